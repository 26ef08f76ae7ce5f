"""The Connect hub plugin: the hub's tables, its connector and their migrations."""

from __future__ import annotations

from pathlib import Path

from engine.hookspecs import hookimpl

MIGRATIONS = Path(__file__).with_name("migrations")


@hookimpl
def register_connectors() -> list[type]:
    """The hub connector (``connect``)."""
    from plugins.connect.connector import HubConnector

    return [HubConnector]


@hookimpl
def register_models() -> list[object]:
    """The hub's tables, so they join the engine's metadata (its ORM classes are in ``plugins.connect.models``)."""
    from plugins.connect import tables

    return [tables]


@hookimpl
def register_migrations() -> list[str]:
    """The Alembic version folder of the hub's tables (branch ``connect``)."""
    return [str(MIGRATIONS)]
