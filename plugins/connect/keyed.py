"""Statements over a list of keys (``SELECT .. WHERE key IN``, ``UPDATE .. WHERE key IN``), compiled once.

The hub's batch writes look up and touch rows by hundreds of keys per page.
Through SQLAlchemy's generic execution each such statement re-renders its
expanding ``IN`` list and processes every parameter and row generically, which
costs several times the database's own work. Here each statement is compiled
once per dialect, table, columns and key-list size, and run as plain DBAPI
SQL (``exec_driver_sql``) with the column types' own bind and result
processors, so values come back exactly as a Core ``select()`` returns them.

Key lists are padded (repeating the last key) to one of a few sizes so a
handful of compiled forms serve every batch. PostgreSQL gets ``= ANY(array)``
instead of an ``IN`` list: it is planned as an index lookup even before the
table has statistics (see :func:`plugins.connect.bulk.key_in`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import any_, bindparam, select, update

from engine.store.db import connection_of

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Dialect

    from engine.store.db import Tx

_Processor = Callable[[Any], Any] | None

#: Keys per statement (padded up to the next size); the largest is the chunk size.
SIZES = (1, 4, 16, 64, 128, 256, 500)
CHUNK = SIZES[-1]


@dataclass
class _Compiled:
    sql: str
    names: list[str]  # parameter names in execution order
    processors: dict[str, _Processor]
    positional: bool
    key_names: list[str]  # the key parameters (one array parameter on PostgreSQL)
    array: bool
    renamed: dict[str, str]  # parameter name -> the caller's column name (where / values)
    columns: tuple[Any, ...] = ()
    results: dict[tuple[Any, ...], list[tuple[int, Callable[[Any], Any]]]] = field(default_factory=dict)
    _plain: bool | None = None
    _key_set: set[str] = field(default_factory=set)
    _key_start: int = 0

    def params(self, keys: Sequence[Any], values: Mapping[str, Any]) -> Any:
        if self.positional and not self.array and self._keys_plain():
            # Common case (SQLite): keys need no processing and sit together; build the tuple directly.
            rest = []
            for name in self.names:
                if name not in self._key_set:
                    value, proc = values[self.renamed[name]], self.processors[name]
                    rest.append(value if proc is None else proc(value))
            start = self._key_start
            return (*rest[:start], *keys, *rest[start:])
        given = {name: values[column] for name, column in self.renamed.items()}
        if self.array:
            given[self.key_names[0]] = list(keys)
        else:
            given.update(zip(self.key_names, keys, strict=True))
        out = {}
        for name in self.names:
            value = given[name]
            proc = self.processors[name]
            out[name] = proc(value) if proc is not None else value
        return tuple(out[n] for n in self.names) if self.positional else out

    def _keys_plain(self) -> bool:
        if self._plain is None:
            key_set = set(self.key_names)
            positions = [i for i, n in enumerate(self.names) if n in key_set]
            start = positions[0] if positions else 0
            self._key_set, self._key_start = key_set, start
            self._plain = (bool(positions) and positions == list(range(start, start + len(positions)))
                           and [self.names[i] for i in positions] == self.key_names
                           and all(self.processors[n] is None for n in self.key_names))
        return self._plain


def select_by_keys(session: Tx, table: Table, columns: Sequence[str], key: str, keys: Sequence[Any],
                   where: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE key IN keys AND col = value ...`` as plain tuples.

    Args:
        session: The caller's transaction.
        table: The table.
        columns: The columns selected, in order.
        key: The key column.
        keys: The keys (any number; duplicates are fine).
        where: Further equality conditions (``{"integration": "shop"}``).
    """
    where = where or {}
    conn = connection_of(session)
    out: list[tuple[Any, ...]] = []
    for chunk in _chunks(keys):
        size = _size(conn.dialect, len(chunk))
        compiled = _select(conn.dialect, table, tuple(columns), key, tuple(where), size)
        result = conn.exec_driver_sql(compiled.sql, compiled.params(_pad(chunk, size), where))
        cursor = result.cursor
        procs = _result_processors(conn, compiled, cursor.description)
        rows = cursor.fetchall()  # the driver's plain tuples; the processors are applied below
        result.close()
        if not procs:
            out.extend(rows)
            continue
        for row in rows:
            values = list(row)
            for i, proc in procs:
                values[i] = proc(values[i])
            out.append(tuple(values))
    return out


def update_by_keys(session: Tx, table: Table, key: str, keys: Sequence[Any], values: Mapping[str, Any]) -> None:
    """``UPDATE table SET col = value ... WHERE key IN keys``."""
    conn = connection_of(session)
    for chunk in _chunks(keys):
        size = _size(conn.dialect, len(chunk))
        compiled = _update(conn.dialect, table, key, tuple(values), size)
        conn.exec_driver_sql(compiled.sql, compiled.params(_pad(chunk, size), values))


# -- compiled forms ------------------------------------------------------------------------------


def _chunks(keys: Sequence[Any]) -> list[Sequence[Any]]:
    keys = list(dict.fromkeys(keys))
    return [keys[i:i + CHUNK] for i in range(0, len(keys), CHUNK)]


def _size(dialect: Dialect, n: int) -> int:
    if dialect.name == "postgresql":
        return 0  # one array parameter, whatever the count
    for size in SIZES:
        if n <= size:
            return size
    raise ValueError(f"{n} keys exceed the chunk size {CHUNK}")


def _pad(keys: Sequence[Any], size: int) -> Sequence[Any]:
    return keys if size == 0 or len(keys) == size else [*keys, *([keys[-1]] * (size - len(keys)))]


def _key_condition(table: Table, key: str, size: int) -> Any:
    column = table.c[key]
    if size == 0:
        from sqlalchemy.dialects import postgresql  # loaded only on PostgreSQL (start-up time)

        return column == any_(bindparam(_KEYS, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(_KEYS, type_=column.type, expanding=True))


_KEYS = "keys_"


@lru_cache(maxsize=256)
def _select(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str, where: tuple[str, ...],
            size: int) -> _Compiled:
    compiled = _sized(_select_base(dialect, table, columns, key, where, size == 0), size,
                      {f"w_{c}": c for c in where})
    compiled.columns = tuple(table.c[c] for c in columns)
    return compiled


@lru_cache(maxsize=64)
def _select_base(dialect: Dialect, table: Table, columns: tuple[str, ...], key: str, where: tuple[str, ...],
                 array: bool) -> Any:
    stmt = select(*(table.c[c] for c in columns)).where(
        _key_condition(table, key, 0 if array else 1),
        *(table.c[c] == bindparam(f"w_{c}", type_=table.c[c].type) for c in where))
    return stmt.compile(dialect=dialect)


@lru_cache(maxsize=256)
def _update(dialect: Dialect, table: Table, key: str, values: tuple[str, ...], size: int) -> _Compiled:
    return _sized(_update_base(dialect, table, key, values, size == 0), size, {f"v_{c}": c for c in values})


@lru_cache(maxsize=64)
def _update_base(dialect: Dialect, table: Table, key: str, values: tuple[str, ...], array: bool) -> Any:
    stmt = update(table).where(_key_condition(table, key, 0 if array else 1)).values(
        {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in values})
    return stmt.compile(dialect=dialect)


def _sized(compiled: Any, size: int, renamed: dict[str, str]) -> _Compiled:
    """The statement for ``size`` keys (0: one array parameter), from its form compiled once.

    The key list is one expanding parameter, written out here for each size the way
    SQLAlchemy does at execution (:meth:`SQLCompiler.construct_expanded_state`):
    compiling a 500-key ``IN`` list anew cost about 5 ms per statement and size.
    """
    if compiled.escaped_bind_names:  # our parameter names never need escaping
        raise ValueError(f"unexpected escaped parameter names {compiled.escaped_bind_names}")
    dialect = compiled.dialect
    procs = {n: compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in compiled.binds}
    if size == 0:
        sql, key_names = str(compiled.string), [_KEYS]
        names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
    else:
        state = compiled.construct_expanded_state({_KEYS: [None] * size, **dict.fromkeys(renamed)})
        sql, key_names = state.statement, [f"{_KEYS}_{i}" for i in range(1, size + 1)]
        names = list(state.positiontup) if compiled.positional else [*renamed, *key_names]
        procs.update(dict.fromkeys(key_names, procs.pop(_KEYS)))
    return _Compiled(sql=sql, names=names, processors={n: procs[n] for n in names}, positional=compiled.positional,
                     key_names=key_names, array=size == 0, renamed=renamed)


def _result_processors(conn: Connection, compiled: _Compiled,
                       description: Any) -> list[tuple[int, Callable[[Any], Any]]]:
    # As SQLAlchemy's own results do: each column type's processor for the driver's type code.
    codes = tuple(d[1] for d in description or ())
    procs = compiled.results.get(codes)
    if procs is None:
        dialect = conn.dialect
        found = [col.type.dialect_impl(dialect).result_processor(dialect, code)
                 for col, code in zip(compiled.columns, codes, strict=True)]
        procs = compiled.results[codes] = [(i, p) for i, p in enumerate(found) if p is not None]
    return procs
