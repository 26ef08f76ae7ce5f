"""Revisions of the hub's tables (Alembic branch ``connect``)."""
