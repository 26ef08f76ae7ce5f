"""Whether the database is at the newest revision, told without importing Alembic.

Starting the engine checks this first: importing Alembic and loading its
scripts costs a good part of a short run, and is only needed when there is
something to migrate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SAEngine

    from engine.plugins import Hooks

CORE_VERSIONS = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = "ce_alembic_version"

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


def script_heads(version_folders: Sequence[str]) -> set[str] | None:
    """The revisions the version table holds once everything is applied, read from the scripts' text.

    None: a script could not be read (the caller then asks Alembic).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in version_folders:
        for path in Path(folder).glob("*.py"):
            source = path.read_text(encoding="utf-8")
            rev = _REVISION.search(source)
            if rev is None:
                if path.name == "__init__.py":
                    continue
                return None
            revisions.add(rev.group(1))
            for down in _DOWN.finditer(source):
                parents.update(_QUOTED.findall(down.group(1)))
    return revisions - parents


def is_current(db: SAEngine, version_folders: Sequence[str]) -> bool:
    """True if the database's recorded revisions are exactly the scripts' heads."""
    heads = script_heads(version_folders)
    if not heads:
        return False
    try:
        with db.connect() as conn:
            recorded = {row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))}
    except SQLAlchemyError:
        return False  # no version table yet: a new database
    return recorded == heads
