"""The one way rows are written in bulk: a dialect ``INSERT .. ON CONFLICT`` upsert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.orm import Session


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str],
           update: Sequence[str] | None = None) -> None:
    """Insert ``rows`` into ``table``, updating the existing row on a ``key`` conflict.

    Args:
        session: The caller's open transaction (never committed here).
        table: The target table (``Model.__table__``).
        rows: Dicts with the same keys each.
        key: Columns of a unique index / primary key.
        update: Columns to overwrite on conflict (default: every non-key column
            given in the rows). Empty: conflicting rows are left alone.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    cols = update if update is not None else [c for c in rows[0] if c not in key]
    if cols:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in cols})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    session.execute(stmt, list(rows))
