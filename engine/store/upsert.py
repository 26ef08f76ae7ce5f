"""The one way rows are written in bulk: a dialect ``INSERT .. ON CONFLICT`` upsert.

The statement is compiled once per (dialect, table, columns, key, update) and
run as one DBAPI ``executemany``, each value passed through its column type's
bind processor column by column: SQLAlchemy's generic per-row parameter
handling costs several times the database's own work on the hot paths (hub
writes, the ledger).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import sqlite

from engine.store.db import connection_of

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Dialect

    from engine.store.db import Tx

_Processor = Callable[[Any], Any] | None


def upsert(session: Tx, table: Table, rows: Sequence[dict[str, Any]], *, key: Sequence[str],
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
    conn = connection_of(session)
    columns = tuple(rows[0])
    cols = tuple(update) if update is not None else tuple(c for c in columns if c not in key)
    sql, names, processors, positional = _compiled(conn.dialect, table, columns, tuple(key), cols)
    if sql is None:  # names needing escapes: let SQLAlchemy handle parameters itself
        session.execute(_statement(conn.dialect.name, table, tuple(key), cols), list(rows))
        return
    values = [_column(rows, n, p) for n, p in zip(names, processors, strict=True)]
    if conn.dialect.name == "postgresql" and len(rows) >= _ONE_STATEMENT_FROM and _as_one_statement(
            conn, table, sql, names, values, key):
        return
    if positional:
        conn.exec_driver_sql(sql, list(zip(*values, strict=True)))
    else:
        conn.exec_driver_sql(sql, [dict(zip(names, t, strict=True)) for t in zip(*values, strict=True)])


# PostgreSQL: from this many rows, one INSERT .. SELECT over a JSON array of them. psycopg's executemany
# pipelines one statement per row, and its per-row work in Python cost several times the database's.
_ONE_STATEMENT_FROM = 8


def _as_one_statement(conn: Any, table: Table, sql: str, names: list[str], values: list[list[Any]],
                      key: Sequence[str]) -> bool:
    """Run the upsert as one statement over a JSON array of the rows; False if these rows cannot go that way.

    They cannot when a value has no JSON form (bytes, integers past 64 bits) or
    when two rows share a key (one statement may not update a row twice).
    """
    import json

    import orjson

    if len(set(zip(*(values[names.index(k)] for k in key), strict=True))) != len(values[0]):
        return False
    from psycopg.types.json import Json, Jsonb  # the driver PostgreSQL URLs use (engine.store.db)

    serialize = getattr(conn.dialect, "_json_serializer", None) or json.dumps

    def wrapped_json(value: Any) -> Any:  # what JSON columns' bind processor makes: the engine's JSON text
        if isinstance(value, (Json, Jsonb)):
            return orjson.Fragment(serialize(value.obj))
        raise TypeError(type(value).__name__)

    try:
        payload = orjson.dumps(list(zip(*values, strict=True)), default=wrapped_json)
    except TypeError:
        return False
    conn.exec_driver_sql(_one_statement_sql(conn.dialect, table, sql, tuple(names)), {"rows_": payload.decode()})
    return True


@lru_cache(maxsize=256)
def _one_statement_sql(dialect: Dialect, table: Table, sql: str, names: tuple[str, ...]) -> str:
    """``INSERT .. VALUES (..) ON CONFLICT ..`` rewritten as ``INSERT .. SELECT .. FROM json_array_elements``.

    Each value comes out of the JSON as text and is cast to its column's type
    (a JSON column's value comes out as the text of its document).
    """
    quote = dialect.identifier_preparer
    head = f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)})"
    tail = sql[sql.index(" ON CONFLICT "):]
    if " RETURNING " in tail:  # nothing reads what the row-by-row form returns
        tail = tail[:tail.index(" RETURNING ")]
    casts = ", ".join(f"CAST(r_.value->>{i} AS {table.c[n].type.compile(dialect=dialect)})"
                      for i, n in enumerate(names))
    return f"{head} SELECT {casts} FROM json_array_elements(CAST(%(rows_)s AS JSON)) AS r_{tail}"


def _column(rows: Sequence[dict[str, Any]], name: str, processor: _Processor) -> list[Any]:
    # Column-wise, remembering the last value: rows of a batch share most timestamps.
    values = [row[name] for row in rows]
    if processor is None:
        return values
    out: list[Any] = []
    last: Any = out  # a sentinel no value is
    done: Any = None
    for value in values:
        if value is not last:
            last, done = value, processor(value)
        out.append(done)
    return out


def _statement(dialect: str, table: Table, key: tuple[str, ...], cols: tuple[str, ...]) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only on PostgreSQL (start-up time)

        insert = postgresql.insert
    else:
        insert = sqlite.insert
    stmt = insert(table)
    if cols:
        return stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in cols})
    return stmt.on_conflict_do_nothing(index_elements=list(key))


@lru_cache(maxsize=256)
def _compiled(dialect: Dialect, table: Table, columns: tuple[str, ...], key: tuple[str, ...],
              cols: tuple[str, ...]) -> tuple[str | None, list[str], list[_Processor], bool]:
    compiled = _statement(dialect.name, table, key, cols).compile(dialect=dialect, column_keys=list(columns))
    if compiled.escaped_bind_names or set(compiled.binds) != set(columns):
        return None, [], [], False
    names: list[str] = list(compiled.positiontup or ()) if compiled.positional else list(columns)
    processors: list[_Processor] = [table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    return str(compiled.string), names, processors, bool(compiled.positional)
