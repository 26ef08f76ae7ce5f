"""Keyset paging over hub tables, one short session per page.

No transaction stays open across a ``yield``: the engine's SQLite begins every
transaction with ``BEGIN IMMEDIATE``, so a read held open while the runner
writes the page it just yielded would wait on itself.

Two orders: :func:`pages` by ``(updated_at, tie)``, which needs an index on
those columns, and :func:`pages_by_id` by primary key with an updated-since
filter, for tables too hot to keep such an index (products: a second B-tree
rewritten for every changed variant).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from engine.connector import Page
from engine.errors import ConnectorError, RecordError
from plugins.connect import coerce

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Row, Select
    from sqlalchemy.orm import Session, sessionmaker

    from engine.store.db import Transactions, Tx

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 10_000
#: A read from a cursor starts this much before it. A row's ``updated_at`` is set when it is
#: written, but the row is seen only once its transaction commits: a slow transaction (or
#: another host's clock) can commit a row behind a cursor that has already moved on. Feeds
#: that read the hub skip what they already wrote (change detection), so reading a few
#: minutes twice costs little; a transaction slower than this is still missed.
LOOKBACK = timedelta(minutes=10)

Shape = Callable[["Tx", Sequence["Row[Any]"]], list[dict[str, Any]]]


def page_size(params: Any) -> int:
    """The ``page_size`` param of a read (default 500, at most 10,000)."""
    value = params.get("page_size", DEFAULT_PAGE_SIZE) if params else DEFAULT_PAGE_SIZE
    try:
        size = coerce.integer(value, "page_size", minimum=1)
    except RecordError as exc:
        raise ConnectorError(f"hub read param {exc.message}; give a whole number from 1 to {MAX_PAGE_SIZE}") from None
    return min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def after(cursor: Any, time_col: ColumnElement[Any], tie_col: ColumnElement[Any],
          tie_name: str) -> ColumnElement[bool] | None:
    """``(time, tie) > cursor`` as a WHERE clause, or None to start from the beginning.

    Raises:
        ConnectorError: ``cursor`` is not ``{"updated_at": ISO time, tie_name: value}``.
    """
    if cursor is None:
        return None
    if not isinstance(cursor, dict) or "updated_at" not in cursor or tie_name not in cursor:
        raise ConnectorError(f"hub cursor {cursor!r} is not of the form {{'updated_at': <ISO time>, "
                             f"'{tie_name}': <value>}}; reset the feed's cursor")
    try:
        moment = coerce.timestamp(cursor["updated_at"], "updated_at")
    except RecordError as exc:
        raise ConnectorError(f"hub cursor: {exc.message}; reset the feed's cursor") from None
    tie = cursor[tie_name]
    return or_(time_col > moment, and_(time_col == moment, tie_col > tie))


def pages(sessions: Transactions | sessionmaker[Session], query: Select[Any], shape: Shape, *, cursor: Any,
          time_col: ColumnElement[Any], tie_col: ColumnElement[Any], tie_name: str, size: int,
          now: datetime | None = None) -> Iterator[Page]:
    """Pages of ``query`` ordered by ``(time_col, tie_col)`` after ``cursor``.

    Each page is read and shaped in its own short session, closed before the
    page is yielded. The page's cursor is its last row's ``{updated_at, <tie>}``
    and, given ``now``, ``read_at`` (when this read began). The next read then
    also reads the rows changed within :data:`LOOKBACK` before that moment, which
    a transaction still open then may have committed behind the cursor.
    """
    query = query.order_by(time_col, tie_col).limit(size)
    where = after(cursor, time_col, tie_col, tie_name)
    if where is not None:
        moment = coerce.timestamp(cursor["updated_at"], "updated_at")
        last_read = coerce.timestamp(cursor["read_at"], "read_at") if cursor.get("read_at") else moment
        if last_read - LOOKBACK <= moment:  # the last read was soon after the cursor's row: look back
            where = time_col >= last_read - LOOKBACK
    stamp = {"read_at": coerce.iso(now)} if now is not None else {}
    while True:
        with sessions() as session:
            rows = session.execute(query if where is None else query.where(where)).all()
            records = shape(session, rows) if rows else []
        if not rows:
            return
        last = rows[-1]._mapping
        cursor = {"updated_at": coerce.iso(last[time_col.key]), tie_name: last[tie_col.key], **stamp}
        where = after(cursor, time_col, tie_col, tie_name)
        yield Page(records=records, cursor=cursor)
        if len(rows) < size:
            return


def pages_by_id(sessions: Transactions | sessionmaker[Session], query: Select[Any], shape: Shape, *, cursor: Any,
                time_col: ColumnElement[Any], id_col: ColumnElement[Any], size: int,
                now: datetime) -> Iterator[Page]:
    """Pages of the rows of ``query`` updated since the cursor's ``since``, in ``id_col`` order.

    A read starts at ``now`` (its signpost, ``until``): a row changed while the
    pages are read is read next time, whatever its id. Cursors:
    ``{"since", "after", "until"}`` inside a read (resume after id ``after``),
    then ``{"since": until, "after": 0}`` on the last page, which may carry no
    record (the read moves on even when nothing changed). The time-ordered
    cursor of :func:`pages` (``{"updated_at", "id"}``) is taken as ``since``.
    """
    since, last, until = _id_cursor(cursor, now)
    query = query.order_by(id_col).limit(size)
    if since is not None:
        query = query.where(time_col >= since - LOOKBACK)  # rows committed late (LOOKBACK)
    while True:
        with sessions() as session:
            rows = session.execute(query.where(id_col > last)).all()
            records = shape(session, rows) if rows else []
        if len(rows) < size:
            yield Page(records=records, cursor={"since": until, "after": 0})
            return
        last = rows[-1]._mapping[id_col.key]
        yield Page(records=records, cursor={"since": None if since is None else coerce.iso(since),
                                            "after": last, "until": until})


def _id_cursor(cursor: Any, now: datetime) -> tuple[datetime | None, Any, str]:
    """``(since, after id, until)`` of a :func:`pages_by_id` cursor (or of a time-ordered one)."""
    if cursor is None:
        return None, 0, coerce.iso(now)
    if not isinstance(cursor, dict) or not ({"since", "after"} <= cursor.keys() or "updated_at" in cursor):
        raise ConnectorError(f"hub cursor {cursor!r} is not of the form {{'since': <ISO time>, 'after': <id>}}; "
                             "reset the feed's cursor")
    try:
        raw = cursor.get("since", cursor.get("updated_at"))
        since = None if raw is None else coerce.timestamp(raw, "since")
        after = coerce.integer(cursor.get("after", 0), "after", minimum=0) or 0
    except RecordError as exc:
        raise ConnectorError(f"hub cursor: {exc.message}; reset the feed's cursor") from None
    until = cursor.get("until") if "after" in cursor and cursor.get("after") else None
    return since, after, until if isinstance(until, str) else coerce.iso(now)
