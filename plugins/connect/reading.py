"""Keyset paging over hub tables, one short session per page.

No transaction stays open across a ``yield``: the engine's SQLite begins every
transaction with ``BEGIN IMMEDIATE``, so a read held open while the runner
writes the page it just yielded would wait on itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from engine.connector import Page
from engine.errors import ConnectorError, RecordError
from plugins.connect import coerce

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Row, Select
    from sqlalchemy.orm import Session, sessionmaker

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 10_000

Shape = Callable[["Session", Sequence["Row[Any]"]], list[dict[str, Any]]]


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


def pages(sessions: sessionmaker[Session], query: Select[Any], shape: Shape, *, cursor: Any,
          time_col: ColumnElement[Any], tie_col: ColumnElement[Any], tie_name: str, size: int) -> Iterator[Page]:
    """Pages of ``query`` ordered by ``(time_col, tie_col)`` after ``cursor``.

    Each page is read and shaped in its own short session, closed before the
    page is yielded. The page's cursor is its last row's ``{updated_at, <tie>}``.
    """
    query = query.order_by(time_col, tie_col).limit(size)
    while True:
        where = after(cursor, time_col, tie_col, tie_name)
        with sessions() as session:
            rows = session.execute(query if where is None else query.where(where)).all()
            records = shape(session, rows) if rows else []
        if not rows:
            return
        last = rows[-1]._mapping
        cursor = {"updated_at": coerce.iso(last[time_col.key]), tie_name: last[tie_col.key]}
        yield Page(records=records, cursor=cursor)
        if len(rows) < size:
            return
