"""Storage: the database engine, sessions, migrations and encrypted column types."""
