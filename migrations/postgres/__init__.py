"""PostgreSQL schema migrations, NNNN_name.sql, applied in order by ``venice-bots migrate``."""
