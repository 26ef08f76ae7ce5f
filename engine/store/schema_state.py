"""Whether the database is at the newest revision, and a new database built, without importing Alembic.

Starting the engine checks this first: importing Alembic and loading its
scripts costs a good part of a short run, and is only needed when there is
something to migrate. A database with no tables at all is built straight from
the models and stamped at the heads (Alembic's "create from scratch, then
stamp" recipe), which equals upgrading it because the migrations and the
models describe the same schema (``tests/engine/test_migrations.py``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StoreError
from engine.store import tables

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.engine import Engine as SAEngine

    from engine.plugins import Hooks

log = logging.getLogger(__name__)

CORE_VERSIONS = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = "ce_alembic_version"
PG_LOCK = 0x636F6E6E  # advisory lock id: two processes never migrate or create one PostgreSQL database at once

_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
# A revision named by another's down_revision or depends_on is not recorded in the version table
# once that other one is applied (Alembic keeps only the revisions nothing else builds on).
_DOWN = re.compile(r"^(?:down_revision|depends_on)(?:\s*:[^=]+)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def folders(hooks: Hooks) -> list[str]:
    """The engine's version folder followed by every folder plugins register (``register_migrations``)."""
    out = [str(CORE_VERSIONS)]
    for result in hooks.pm.hook.register_migrations():
        for folder in result or ():
            if str(folder) not in out:
                out.append(str(folder))
    return out


def _scan(version_folders: Sequence[str]) -> tuple[list[str], set[str]] | None:
    """Every revision (folder by folder, files by name) and every revision another one builds on.

    None: a folder is missing or a script names no revision.
    """
    revisions: list[str] = []
    parents: set[str] = set()
    for folder in version_folders:
        if not Path(folder).is_dir():
            return None  # Alembic names the missing folder
        for path in sorted(Path(folder).glob("*.py")):
            source = path.read_text(encoding="utf-8")
            rev = _REVISION.search(source)
            if rev is None:
                if path.name == "__init__.py":
                    continue
                return None
            revisions.append(rev.group(1))
            for down in _DOWN.finditer(source):
                parents.update(_QUOTED.findall(down.group(1)))
    return revisions, parents


def script_heads(version_folders: Sequence[str]) -> set[str] | None:
    """The revisions the version table holds once everything is applied, read from the scripts' text.

    None: a script could not be read (the caller then asks Alembic).
    """
    scanned = _scan(version_folders)
    return None if scanned is None else set(scanned[0]) - scanned[1]


def is_current(db: SAEngine, version_folders: Sequence[str]) -> bool:
    """True if the database's recorded revisions are exactly the scripts' heads."""
    heads = script_heads(version_folders)
    if not heads:
        return False
    try:
        with db.connect() as conn:
            return _recorded(conn) == heads
    except SQLAlchemyError:
        return False  # no version table yet: a new database


def _recorded(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}


def version_table() -> Table:
    """The version table exactly as Alembic's ``MigrationContext`` makes it (``version_table_impl``)."""
    return Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), nullable=False),
                 PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"))


def create_new(db: SAEngine, version_folders: Sequence[str], model_modules: Iterable[str]) -> list[str] | None:
    """Build a database that has no tables at all from the models and stamp it at the heads, in one transaction.

    Args:
        db: The engine's database.
        version_folders: Every registered version folder (:func:`folders`).
        model_modules: Modules whose tables or models plugins registered (``register_models``).

    Returns:
        Every revision of the scripts (the schema they add up to now exists);
        ``[]`` if another process created it meanwhile (it is at the heads); or
        None when nothing was done and the caller should ask Alembic: the
        database has tables, a script or folder could not be read, or
        the metadata holds tables no registered plugin's module defines.

    Raises:
        StoreError: The database refused the tables.
    """
    scanned = _scan(version_folders)
    if scanned is None or not _tables_registered(set(tables.metadata.tables), [tables.__name__, *model_modules]):
        return None
    revisions, parents = scanned
    heads = sorted(set(revisions) - parents)
    if not heads:
        return None
    try:
        with db.begin() as conn:  # SQLite: BEGIN IMMEDIATE (engine.store.db), so one process creates
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK})
            names = inspect(conn).get_table_names()
            if VERSION_TABLE in names and _recorded(conn) == set(heads):
                return []  # another process starting at the same time was first
            if names:
                return None  # not new: Alembic decides
            tables.metadata.create_all(conn, checkfirst=False)
            table = version_table()
            table.create(conn)
            conn.execute(table.insert(), [{"version_num": head} for head in heads])
    except SQLAlchemyError as exc:
        raise StoreError(f"creating the database schema failed: {exc}") from exc
    log.info("created a new database from the models, stamped at %s", ", ".join(heads))
    return revisions


def _tables_registered(names: set[str], owners: Sequence[str]) -> bool:
    """True if every table in the metadata is defined by a module of ``owners`` (or a module inside one).

    A module defines the ``Table`` objects it holds and the tables of the mapped
    classes it holds (a plugin's ORM models).
    """
    defined: set[str] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not any(name == owner or name.startswith(owner + ".") for owner in owners):
            continue
        for value in vars(module).values():
            table = value if isinstance(value, Table) else getattr(value, "__table__", None) if isinstance(
                value, type) and getattr(value, "__module__", None) == name else None
            if isinstance(table, Table) and table.metadata is tables.metadata:
                defined.add(table.fullname)
    return defined == names
