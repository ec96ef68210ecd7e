"""SQLite schema: forward-only ``NNNN_name.sql`` files (a package so the wheel carries them as its data)."""
