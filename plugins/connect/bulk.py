"""Batch writes of the hub: one SELECT of the stored rows, change detection, one bulk upsert.

This is the hot path of every inbound feed: no ORM object per record and no
select-then-insert per record. A batch is applied in record order, so a key that
appears twice in one batch behaves as two consecutive writes would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import any_, bindparam

from engine.connector import WriteOutcome
from engine.errors import EngineError, RecordError, Severity
from engine.store.upsert import upsert
from plugins.connect.keyed import select_by_keys

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Table

    from engine.connector import Action, RunContext, WriteMode
    from engine.store.db import Tx

Convert = Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]

CHUNK = 500  # keys per IN (...) list: well under every database's bound-parameter limit


@dataclass(frozen=True)
class Target:
    """How one hub table is written.

    Attributes:
        table: The table.
        key: The natural key column (``sku``, ``external_id``).
        columns: The value columns a record may set.
        label: What one record is called in messages (``product``, ``order``).
        scope: Columns that, with ``key``, make the unique constraint; their
            values are fixed for a batch (``integration``, ``warehouse``).
        created_at: The table has a ``created_at`` column.
        defaults: Values of columns a new row gets when its record has none.
    """

    table: Table
    key: str
    columns: tuple[str, ...]
    label: str
    scope: tuple[str, ...] = ()
    created_at: bool = True
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def conflict(self) -> tuple[str, ...]:
        """The columns of the unique constraint the upsert resolves on."""
        return (*self.scope, self.key)


def allowed_columns(target: Target, fields: Sequence[str] | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The columns a write may change: all of them, or those ``fields`` names.

    Raises:
        RecordError: ``fields`` names something that is neither a column nor in ``extra``.
    """
    if fields is None:
        return target.columns
    unknown = [f for f in fields if f not in target.columns and f not in extra]
    if unknown:
        valid = ", ".join(sorted((*target.columns, *extra)))
        raise RecordError(f"fields {', '.join(map(repr, unknown))} are not {target.label} fields; valid: {valid}",
                          field="fields")
    return tuple(c for c in target.columns if c in fields)


def key_in(column: ColumnElement[Any], dialect: str, values: Sequence[Any] | None = None, *,
           name: str | None = None) -> ColumnElement[bool]:
    """``column IN (values)`` that stays an index lookup on PostgreSQL before any ANALYZE.

    PostgreSQL estimates each element of an IN list at 0.5 % of a table it has no
    statistics for, so a 250-key lookup looks like the whole table and is planned
    as a scan (quadratic over a first import); ``= ANY(array)`` is estimated as a
    handful of rows. Other databases get a plain (expanding) IN.

    Args:
        column: The column looked up.
        dialect: ``connection_of(session).dialect.name``.
        values: The keys; None to pass them at execution under ``name``.
        name: The bound parameter's name (default: anonymous).
    """
    value = list(values) if values is not None else None
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only on PostgreSQL (start-up time)

        return column == any_(bindparam(name, value, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, value, type_=column.type, expanding=True))


def stored_rows(session: Tx, target: Target, keys: Iterable[str],
                scope: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """``(id, key, *columns)`` of the stored rows of these keys within ``scope``."""
    return select_by_keys(session, target.table, ("id", target.key, *target.columns), target.key, list(keys),
                          {name: scope[name] for name in target.scope})


class Batch:
    """Change detection and upsert of one batch of records into one table.

    Use: :meth:`load` the keys, :meth:`apply` each record's values in order, then
    :meth:`flush` once.
    """

    def __init__(self, session: Tx, target: Target, ctx: RunContext, now: datetime, *,
                 scope: Mapping[str, Any] | None = None, allowed: Sequence[str] | None = None,
                 mode: WriteMode | None = None) -> None:
        self.session = session
        self.target = target
        self.ctx = ctx
        self.mode = mode or ctx.write_mode
        self.scope = dict(scope) if scope is not None else {"integration": ctx.integration}
        missing = [c for c in target.scope if c not in self.scope]
        if missing:
            raise ValueError(f"{target.table.name}: batch scope lacks {missing}")
        self.now = now
        self.allowed = tuple(allowed) if allowed is not None else allowed_columns(target, ctx.fields)
        # Each row holds exactly the columns the upsert writes; stored ones get placeholder
        # times (created_at is never overwritten, updated_at is set when the row changes).
        self.rows: dict[str, dict[str, Any]] = {}
        self.ids: dict[str, int] = {}
        self.dirty: dict[str, None] = {}  # an ordered set of keys to write
        self._fixed = {**{c: self.scope[c] for c in target.scope}, "updated_at": now}
        if target.created_at:
            self._fixed["created_at"] = now
        self._template = {**dict.fromkeys(target.columns), target.key: None, **self._fixed}
        self._key = target.key
        self._defaults = dict(target.defaults)

    def load(self, keys: Iterable[str]) -> None:
        """Read the stored rows of ``keys`` (one SELECT per 500 keys)."""
        names = (self.target.key, *self.target.columns)
        fixed = self._fixed
        for row_id, *values in stored_rows(self.session, self.target, keys, self.scope):
            row = dict(zip(names, values, strict=True))
            row.update(fixed)
            self.rows[row[self.target.key]] = row
            self.ids[row[self.target.key]] = row_id

    def apply(self, key: str, values: dict[str, Any]) -> Action:
        """Apply one record's ``values`` (only the columns it carries) and say what happened.

        Raises:
            RecordError: ``write_mode`` is ``update`` and the key is not in the hub
                (severity ``info``: nothing to update).
        """
        rows = self.rows
        row = rows.get(key)
        mode = self.mode
        if row is None:
            if mode == "update":
                raise RecordError(f"{self.target.label} {key!r} is not in the hub yet", record=key,
                                  severity=Severity.INFO)
            row = self._template.copy()
            row.update(values)
            row[self._key] = key
            if self._defaults:
                row.update({c: v for c, v in self._defaults.items() if row[c] is None})
            rows[key] = row
            self.dirty[key] = None
            return "created"
        if mode == "create":
            return "unchanged"
        changes = {c: values[c] for c in self.allowed if c in values and values[c] != row[c]}
        if not changes:
            return "unchanged"
        row.update(changes)
        self.touch(key)
        return "updated"

    def touch(self, key: str) -> None:
        """Mark a stored key changed (its ``updated_at`` moves) without a column change."""
        self.dirty[key] = None

    def flush(self) -> list[str]:
        """Upsert every changed row in one statement; returns the keys written."""
        if not self.dirty:
            return []
        target = self.target
        rows = [self.rows[k] for k in self.dirty]
        upsert(self.session, target.table, rows, key=target.conflict, update=[*self.allowed, "updated_at"])
        written = list(self.dirty)
        self.dirty.clear()
        return written


def failed(key: str, exc: EngineError) -> WriteOutcome:
    """The outcome of a record that failed, its key recorded on the error."""
    if isinstance(exc, RecordError) and not exc.record:
        exc.record = key
        exc.context["record"] = key
    return WriteOutcome(key=key, action="error", error=exc)


def write_all(session: Tx, target: Target, records: Sequence[dict[str, Any]], ctx: RunContext,
              now: datetime, convert: Convert) -> list[WriteOutcome]:
    """Write a batch into a table without side tables: convert, load, apply in order, flush.

    Args:
        session: The runner's transaction.
        target: The table's description.
        records: Mapped records.
        ctx: Integration, write mode and fields of the call.
        now: The write time (``updated_at``).
        convert: Returns a record's key and the column values it carries;
            raises :class:`RecordError` for a bad record.
    """
    try:
        allowed = allowed_columns(target, ctx.fields, extra=(target.key,))
    except RecordError as exc:
        return [failed(str(r.get(target.key) or ""), exc) for r in records]
    batch = Batch(session, target, ctx, now, allowed=allowed)
    outcomes: list[WriteOutcome | None] = [None] * len(records)
    parsed: list[tuple[int, str, dict[str, Any]]] = []
    for i, record in enumerate(records):
        try:
            key, values = convert(record)
        except RecordError as exc:
            outcomes[i] = failed(str(record.get(target.key) or ""), exc)
            continue
        parsed.append((i, key, values))
    apply_all(batch, parsed, outcomes)
    return [o for o in outcomes if o is not None]


def apply_all(batch: Batch, items: Sequence[tuple[int, str, dict[str, Any]]],
              outcomes: list[WriteOutcome | None]) -> None:
    """Load the stored rows of ``items`` (index, key, values), apply each in order, flush the batch.

    ``outcomes[index]`` receives each record's outcome; a bad record fails alone.
    """
    batch.load(key for _, key, _ in items)
    for i, key, values in items:
        try:
            outcomes[i] = WriteOutcome(key=key, action=batch.apply(key, values))
        except RecordError as exc:
            outcomes[i] = failed(key, exc)
    batch.flush()
