"""Alembic environment of the engine's database: run by :mod:`engine.store.migrate`, never imported."""

from __future__ import annotations

from typing import Any

from alembic import context

from engine.store.db import make_db
from engine.store.tables import metadata

config = context.config


def _record(applied: list[str] | None) -> Any:
    def on_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        if applied is not None and step.is_upgrade and not step.is_stamp:
            applied.extend(step.up_revision_ids)

    return on_apply


def run_migrations_online() -> None:
    """Migrate through the caller's connection (or one made from ``sqlalchemy.url``)."""
    connection = config.attributes.get("connection")
    owned = None
    if connection is None:
        owned, _ = make_db(config.get_main_option("sqlalchemy.url") or "")
        connection = owned.connect()
    try:
        context.configure(
            connection=connection,
            target_metadata=config.attributes.get("target_metadata", metadata),
            version_table=config.attributes.get("version_table", "ce_alembic_version"),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            on_version_apply=_record(config.attributes.get("applied")),
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if owned is not None:
            connection.close()
            owned.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run 'connect-engine db upgrade'")
run_migrations_online()
