"""The SQLite backend (aiosqlite): one module per store, and store.py that opens them all."""
