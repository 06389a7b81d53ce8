"""The SQLAlchemy 2 adapter: tables, imperative mapping, repositories, the blob
index, the unit of work and the Alembic migrations (the only source of the
schema). The same code runs on SQLite and PostgreSQL."""
