"""Writing and reading the engine's bookkeeping: executions, events, the bell, parked records, cursors, ledger."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace  # a row just written, read as execution_info reads rows
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from engine.store.db import connection_of
from engine.store.records import ExecutionInfo, NotificationInfo, empty_counts, printable
from engine.store.tables import cursors, executions, feed_state, ledger, notifications, parked
from engine.store.tables import events as event_rows
from engine.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from engine.store.db import Tx

# SQLite allows 32,766 bound parameters; stay well below for IN lists.
IN_CHUNK = 900


def chunks(seq: Sequence[Any], size: int = IN_CHUNK) -> Iterable[Sequence[Any]]:
    """Slices of ``seq`` of at most ``size`` items."""
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


# -- executions -------------------------------------------------------------------------------


def execution_info(row: Any) -> ExecutionInfo:
    """Detach an execution row (a ``ce_executions`` row, or an ORM ``Execution``)."""
    return ExecutionInfo(id=row.id, integration=row.integration, feed=row.feed, trigger=row.trigger,
                         status=row.status, started_at=row.started_at, finished_at=row.finished_at,
                         counts={**empty_counts(), **(row.counts or {})}, cursor_before=row.cursor_before,
                         cursor_after=row.cursor_after, message=row.message)


def start_execution(session: Tx, *, integration: str, feed: str, trigger: str, now: datetime,
                    cursor: Any = None, holder: str | None = None, status: str = "running",
                    message: str | None = None, finished_at: datetime | None = None) -> ExecutionInfo:
    """Insert an execution row; what it holds, with its id."""
    values = {"integration": integration, "feed": feed, "trigger": trigger, "status": status, "started_at": now,
              "finished_at": finished_at, "counts": empty_counts(), "cursor_before": cursor, "cursor_after": cursor,
              "holder": holder, "message": message}
    execution_id = _inserted_id(session.execute(insert(executions).values(values)))
    return execution_info(SimpleNamespace(id=execution_id, **values))


def _inserted_id(result: Any) -> int:
    """The primary key of the row an ``INSERT`` just wrote."""
    return int(result.inserted_primary_key[0])


def finish_execution(session: Tx, execution_id: int, *, status: str, now: datetime,
                     counts: dict[str, int], cursor_after: Any, message: str | None) -> None:
    """Close an execution row."""
    session.execute(update(executions).where(executions.c.id == execution_id).values(
        status=status, finished_at=now, counts=dict(counts), cursor_after=cursor_after, message=message))


# One prepared statement: every page of a run saves its counts.
_SAVE_COUNTS = (update(executions).where(executions.c.id == bindparam("eid"))
                .values(counts=bindparam("running")))


def save_counts(session: Tx, execution_id: int, counts: dict[str, int]) -> None:
    """Record a running execution's counts so far (in each page's transaction: a killed run keeps them)."""
    connection_of(session).execute(_SAVE_COUNTS, {"eid": execution_id, "running": dict(counts)})


# -- events and the bell -------------------------------------------------------------------------


def add_events(session: Tx, events: Sequence[dict[str, Any]]) -> None:
    """Insert event rows (dicts with Event's columns)."""
    if events:
        session.execute(event_rows.insert(), [
            {**e, "message": printable(e["message"]), "record_key": printable(e.get("record_key"))} for e in events])


def cause_of(integration: str, feed: str, record_key: str | None, kind: str) -> str:
    """The deduplication key of a notification: same integration, feed, record and kind of problem."""
    raw = "\x1f".join((integration, feed, record_key or "", kind))
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def ring(session: Tx, *, integration: str, feed: str, record_key: str | None, record_label: str | None,
         kind: str, message: str, hint: str | None, details: dict[str, Any] | None, now: datetime,
         execution_id: int | None, reopen: bool = True) -> tuple[NotificationInfo, bool]:
    """Raise (or re-raise) the notification of a cause.

    An acknowledged or resolved one comes back if the cause happens again. With
    ``reopen=False`` (a run re-trying a record that already rang) an open
    notification only counts the occurrence and stays acknowledged if it was.

    Returns:
        The notification, and whether it is news (new, or re-opened) that observers should hear of.
    """
    record_key, record_label = printable(record_key), printable(record_label)
    message, hint = printable(message) or "", printable(hint)
    cause = cause_of(integration, feed, record_key, kind)
    c = notifications.c
    row = session.execute(select(notifications).where(c.cause == cause)).one_or_none()
    news = True
    if row is None:
        values = {"cause": cause, "integration": integration, "feed": feed, "record_key": record_key,
                  "record_label": record_label, "message": message, "hint": hint, "details": details, "count": 1,
                  "first_seen": now, "last_seen": now, "last_execution_id": execution_id,
                  "acknowledged_at": None, "resolved_at": None}
        values["id"] = _inserted_id(session.execute(insert(notifications).values(values)))
    else:
        changes: dict[str, Any] = {"message": message, "hint": hint, "details": details, "last_seen": now,
                                   "record_label": record_label or row.record_label,
                                   "last_execution_id": execution_id}
        if reopen or row.resolved_at is not None:
            changes["acknowledged_at"] = changes["resolved_at"] = None
        else:
            news = False
        session.execute(update(notifications).where(c.id == row.id).values(count=c.count + 1, **changes))
        values = {**row._asdict(), **changes, "count": row._mapping["count"] + 1}  # (Row.count: as below)
    return notification_info(SimpleNamespace(**values)), news


def failed_keys(session: Tx, integration: str, feed: str, limit: int = 500) -> list[str]:
    """Source keys of records whose notification is still open (re-tried at the start of each run)."""
    c = notifications.c
    q = (select(c.record_key).where(c.integration == integration, c.feed == feed, c.record_key.is_not(None),
                                    c.resolved_at.is_(None))
         .order_by(c.last_seen).limit(limit))
    return [k for k in session.scalars(q) if k]


def resolve_causes(session: Tx, *, integration: str, feed: str, record_keys: Sequence[str],
                   now: datetime) -> None:
    """A record that now goes through clears its open notifications of this feed."""
    c = notifications.c
    for part in chunks(list(record_keys)):
        session.execute(update(notifications).where(
            c.integration == integration, c.feed == feed, c.record_key.in_(part), c.resolved_at.is_(None),
        ).values(resolved_at=now))


def resolve_run_failures(session: Tx, *, integration: str, feed: str, execution_id: int,
                         now: datetime) -> None:
    """A run that got through clears the feed's open notifications of earlier failed runs (no record key)."""
    c = notifications.c
    session.execute(update(notifications).where(
        c.integration == integration, c.feed == feed, c.record_key.is_(None), c.resolved_at.is_(None),
        (c.last_execution_id != execution_id) | c.last_execution_id.is_(None),
    ).values(resolved_at=now))


def count_open_causes(session: Tx, integration: str, feed: str) -> int:
    """How many unresolved record-level notifications the feed has."""
    c = notifications.c
    return int(session.scalar(select(func.count()).select_from(notifications).where(
        c.integration == integration, c.feed == feed, c.record_key.is_not(None), c.resolved_at.is_(None))) or 0)


def notification_info(row: Any) -> NotificationInfo:
    """Detach a notification row (a ``ce_notifications`` row, or an ORM ``Notification``)."""
    # ``count`` is also the name of a tuple method a Row has (what type checkers see, and what some SQLAlchemy
    # versions return): the column is read through the row's mapping.
    count = row._mapping["count"] if hasattr(row, "_mapping") else row.count
    return NotificationInfo(id=row.id, integration=row.integration, feed=row.feed, record_key=row.record_key,
                            record_label=row.record_label, message=row.message, hint=row.hint, count=count,
                            first_seen=row.first_seen, last_seen=row.last_seen, acknowledged_at=row.acknowledged_at,
                            details=row.details)


# -- parked records -------------------------------------------------------------------------------


def parked_keys(session: Tx, integration: str, feed: str, keys: Sequence[str]) -> dict[str, Row[Any]]:
    """The parked rows among ``keys``."""
    out: dict[str, Row[Any]] = {}
    c = parked.c
    for part in chunks(list(keys)):
        for row in session.execute(select(parked).where(c.integration == integration, c.feed == feed,
                                                        c.record_key.in_(part))):
            out[row.record_key] = row
    return out


def unpark(session: Tx, integration: str, feed: str, keys: Sequence[str]) -> None:
    """Forget parked rows (the record went through, expired or was dropped)."""
    c = parked.c
    for part in chunks(list(keys)):
        session.execute(delete(parked).where(c.integration == integration, c.feed == feed, c.record_key.in_(part)))


def count_parked(session: Tx, integration: str, feed: str) -> int:
    """How many records of the feed are parked."""
    return int(session.scalar(select(func.count()).select_from(parked).where(
        parked.c.integration == integration, parked.c.feed == feed)) or 0)


# -- cursors and the ledger -------------------------------------------------------------------------


def load_cursor(session: Tx, integration: str, feed: str) -> Any:
    """The feed's saved cursor, or None."""
    return session.scalar(select(cursors.c.value).where(cursors.c.integration == integration,
                                                        cursors.c.feed == feed))


def last_run(session: Tx, integration: str, feed: str) -> tuple[Any, Any, Any] | None:
    """When the feed's last run started and finished, and when it ran once (None: it never ran).

    Pages read before a run holds its lock are used only if this is unchanged
    (engine.readahead.Early): a feed without a cursor cannot tell otherwise that
    another run wrote fresher records meanwhile.
    """
    c = feed_state.c
    st = session.execute(select(c.last_started_at, c.last_finished_at, c.once_done_at).where(
        c.integration == integration, c.feed == feed)).first()
    return None if st is None else (st.last_started_at, st.last_finished_at, st.once_done_at)


def save_cursor(session: Tx, integration: str, feed: str, value: Any, now: datetime) -> None:
    """Save the cursor (same transaction as the page it follows)."""
    upsert(session, cursors, [{"integration": integration, "feed": feed, "value": value,
                                        "updated_at": now}], key=["integration", "feed"])


def ledger_digests(session: Tx, integration: str, feed: str, keys: Sequence[str]) -> dict[str, bytes]:
    """What this feed last wrote for these keys (digest by key)."""
    out: dict[str, bytes] = {}
    for part in chunks(list(keys)):
        out.update((k, d) for k, d in session.execute(select(ledger.c.record_key, ledger.c.digest).where(
            ledger.c.integration == integration, ledger.c.feed == feed, ledger.c.record_key.in_(part))))
    return out


def record_ledger(session: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert ledger rows (integration, feed, record_key, digest, remote_id, written_at)."""
    upsert(session, ledger, rows, key=["integration", "feed", "record_key"])


def forget_pushes(session: Tx, integration: str, feeds: Sequence[str], keys: Sequence[str]) -> None:
    """Drop what these feeds remember writing for these keys: their next run writes them again."""
    for part in chunks(list(keys)):
        session.execute(delete(ledger).where(ledger.c.integration == integration, ledger.c.feed.in_(list(feeds)),
                                             ledger.c.record_key.in_(part)))
