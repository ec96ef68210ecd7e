"""SQLite storage: the connection, migrations and the stores built on them."""
