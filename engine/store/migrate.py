"""Schema migrations: Alembic driven from code, one branch per version folder.

The engine's own tables are the ``engine`` branch (``engine/store/migrations/versions``);
each plugin with tables returns its own folder from the ``register_migrations``
hook, whose first revision carries a branch label and ``depends_on`` the
engine's initial revision. No ``alembic.ini`` is needed: the configuration is
built here. Developers generate new revisions with :func:`alembic_config`
(see ``docs/hub.md``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StoreError
from engine.store import schema_state
from engine.store.db import make_db
from engine.store.tables import metadata

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from engine.plugins import Hooks

log = logging.getLogger(__name__)

SCRIPT_DIR = Path(__file__).with_name("migrations")
CORE_VERSIONS = SCRIPT_DIR / "versions"
VERSION_TABLE = schema_state.VERSION_TABLE
_PG_LOCK = schema_state.PG_LOCK  # two processes never upgrade (or create) one PostgreSQL database at once


def folders(hooks: Hooks) -> list[str]:
    """The engine's version folder followed by every folder plugins register (``register_migrations``)."""
    return schema_state.folders(hooks)


def alembic_config(version_folders: Sequence[str] = (), connection: Connection | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the engine's script directory and these folders.

    Args:
        version_folders: Extra version folders (the engine's own is always first).
        connection: The connection ``env.py`` migrates through (None: the
            ``sqlalchemy.url`` option must be set by the caller).
    """
    locations = [str(CORE_VERSIONS), *(str(f) for f in version_folders if str(f) != str(CORE_VERSIONS))]
    for folder in locations:
        if not Path(folder).is_dir():
            raise StoreError(f"migration folder {folder} does not exist (registered by a plugin?)")
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_DIR).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations).replace("%", "%%"))
    cfg.attributes["connection"] = connection
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


def upgrade(db: str | SAEngine, version_folders: Sequence[str]) -> list[str]:
    """Upgrade every branch to its head, in one transaction.

    A database whose tables were made by ``metadata.create_all`` (it has
    every table but no migration history) is adopted: stamped at the heads.

    Args:
        db: A database URL or an SQLAlchemy engine.
        version_folders: Version folders (the engine's own is added if missing).

    Returns:
        The revision ids applied, in order (empty: already up to date).

    Raises:
        StoreError: The database refused a migration, or it holds some of the
            engine's tables but no migration history.
    """
    engine, owned = _engine(db)
    applied: list[str] = []
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            cfg = alembic_config(version_folders, conn)
            cfg.attributes["applied"] = applied
            if _adopt(conn):
                command.stamp(cfg, "heads")
                log.info("adopted a database created without migrations: stamped at heads")
                return []
            command.upgrade(cfg, "heads")
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {exc}") from exc
    finally:
        if owned:
            engine.dispose()
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return applied


def current(db: str | SAEngine, version_folders: Sequence[str]) -> dict[str, Any]:
    """Where the database stands against the scripts.

    Returns:
        ``{"current": [revision ids in the database], "heads": [newest revision
        of each branch], "pending": [revisions an upgrade would apply, in order],
        "up_to_date": bool}``.
    """
    engine, owned = _engine(db)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            heads_now = tuple(sorted(context.get_current_heads()))
        script = ScriptDirectory.from_config(alembic_config(version_folders))
        pending = [r.revision for r in script.revision_map.iterate_revisions("heads", heads_now, implicit_base=True)]
        pending.reverse()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the migration state: {exc}") from exc
    finally:
        if owned:
            engine.dispose()
    return {"current": list(heads_now), "heads": sorted(script.get_heads()), "pending": pending,
            "up_to_date": not pending}


def _engine(db: str | SAEngine) -> tuple[SAEngine, bool]:
    if isinstance(db, SAEngine):
        return db, False
    engine, _ = make_db(db)
    return engine, True


def _adopt(conn: Connection) -> bool:
    """True if every model table exists but no migration was ever recorded."""
    names = set(inspect(conn).get_table_names())
    if VERSION_TABLE in names:
        return False
    ours = set(metadata.tables)
    present = ours & names
    if not present:
        return False
    if present == ours:
        return True
    missing = ", ".join(sorted(ours - names))
    raise StoreError(f"the database has some engine tables ({', '.join(sorted(present))}) but no migration "
                     f"history, and lacks {missing}; upgrade it with the engine version that created it, "
                     f"or start from an empty database")
