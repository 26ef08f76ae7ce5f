"""Alembic script directory of the engine database (env.py, the revision template, versions/)."""
