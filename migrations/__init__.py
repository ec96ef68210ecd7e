"""The database schema: numbered SQL files, one folder per engine (``sqlite/``), shipped as package data."""
