"""The PostgreSQL backend (asyncpg): the same stores as adapters/storage/sqlite, for several workers."""
