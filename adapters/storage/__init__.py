"""Storage backends: each implements core/ports/storage.py."""
