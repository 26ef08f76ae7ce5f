"""Revisions of the engine's own tables (Alembic branch ``engine``)."""
