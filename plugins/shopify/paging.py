"""Shopify's Link-header cursor paging, and the resumable time window of incremental reads."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from engine.errors import ConnectorError

if TYPE_CHECKING:
    import httpx

#: Shopify's largest page.
MAX_LIMIT = 250
#: A completed run's high-water mark this far before the run's start is "settled": every
#: record stamped with it was visible when the run began, so the next run may start just
#: after it instead of re-reading it (covers clock skew between the engine and the shop).
SETTLED = timedelta(seconds=60)
#: One ``<url>; rel="..."`` entry of a Link header (URLs may hold commas, e.g. in ``fields``).
_LINK = re.compile(r'<([^>]*)>\s*;[^<]*?rel="?([^";]+)"?')


class LinkPaginator:
    """Shopify REST cursor paging: filters on the first request, then ``page_info`` + ``limit`` only.

    The next page's ``page_info`` comes from the ``rel="next"`` URL of the
    response's ``Link`` header. A page without one is the last. A token seen
    twice is refused (a server looping would otherwise never end).

    Args:
        path: The list endpoint, as the client takes it.
        params: Filters of the first request.
        limit: Page size (1..250).
        page_info: Resume at this page (a ``page_info`` an earlier paging was given) instead
            of starting with the filters.
    """

    def __init__(self, path: str, params: Mapping[str, Any], *, limit: int = MAX_LIMIT,
                 page_info: str | None = None) -> None:
        self.path = path
        self.limit = max(1, min(MAX_LIMIT, limit))
        self.params = {k: v for k, v in params.items() if v is not None}
        self.fields = self.params.get("fields")
        #: The ``page_info`` of the next request (None before the first and after the last page).
        self.page_info: str | None = page_info
        self.started = page_info is not None
        self._seen: set[str] = set()

    @property
    def has_next(self) -> bool:
        """Whether another request is due."""
        return not self.started or self.page_info is not None

    def next_request(self) -> tuple[str, dict[str, Any]]:
        """The path and query parameters of the next request."""
        if not self.started:
            return self.path, {**self.params, "limit": self.limit}
        params: dict[str, Any] = {"limit": self.limit, "page_info": self.page_info}
        if self.fields:
            params["fields"] = self.fields
        return self.path, params

    def update(self, response: httpx.Response) -> None:
        """Take the next ``page_info`` from the response's ``Link`` header.

        Raises:
            ConnectorError: The server sent a ``page_info`` it had already sent.
        """
        self.started = True
        token = next_page_info(response.headers.get("Link"))
        if token is not None:
            if token in self._seen:
                raise ConnectorError(
                    f"the store sent the same page_info twice while paging {self.path}; stopping to avoid a loop",
                    url=str(response.request.url))
            self._seen.add(token)
        self.page_info = token


def next_page_info(link: str | None) -> str | None:
    """The ``page_info`` of the ``rel="next"`` entry of a ``Link`` header, or None.

    >>> next_page_info('<https://s/p.json?fields=id,title&page_info=a>; rel="previous", '
    ...                '<https://s/p.json?fields=id,title&page_info=b>; rel="next"')
    'b'
    """
    if not link:
        return None
    for url, rels in _LINK.findall(link):
        if "next" in rels.split():
            values = parse_qs(urlsplit(url).query).get("page_info")
            return values[0] if values and values[0] else None
    return None


def parse_ts(value: str) -> datetime:
    """Parse a Shopify ISO-8601 timestamp (with offset or ``Z``)."""
    return datetime.fromisoformat(value)


class Window:
    """The resumable time window of one incremental read, ordered by id.

    A read asks for records whose ``field`` lies between the last completed
    run's high-water mark and this run's start, in ascending id order
    (``since_id``), so a crashed run resumes after its last committed id and
    later changes wait for the next run. The cursor it produces::

        {"field": "updated_at", "since": "<high-water mark>", "run_start": "<start of that run>",
         "run": {"start": "<this run's start>", "last_id": 123, "max_seen": "<...>"}}

    ``run`` is present only while a run is in progress; the last page drops it
    and moves ``since`` to the largest value seen, never past the run's start.

    Args:
        field: ``updated_at`` or ``created_at``.
        cursor: The saved cursor, or None for a first (full) read.
        now: The engine's current time (tz-aware).
    """

    FIELDS = ("updated_at", "created_at")

    def __init__(self, field: str, cursor: Mapping[str, Any] | None, now: datetime) -> None:
        self.field = field
        state = cursor if isinstance(cursor, Mapping) and cursor.get("field") == field else {}
        self.since: str | None = state.get("since")
        self.since_run: str | None = state.get("run_start")
        run = state.get("run") or {}
        if now.tzinfo is None:  # the engine's clock is UTC; a naive value would read as shop time
            now = now.replace(tzinfo=UTC)
        self.run_start: str = run.get("start") or now.replace(microsecond=0).isoformat()
        self.last_id: int = int(run.get("last_id") or 0)
        self.max_seen: str | None = run.get("max_seen")
        self._max_dt = parse_ts(self.max_seen) if self.max_seen else None

    @property
    def resuming(self) -> bool:
        """Whether this read continues a run that stopped part-way."""
        return self.last_id > 0

    def lower_bound(self) -> str | None:
        """The ``<field>_min`` to send: just after a settled mark, on an unsettled one, or None."""
        if not self.since:
            return None
        since = parse_ts(self.since)
        if self.since_run and since <= parse_ts(self.since_run) - SETTLED:
            return (since + timedelta(seconds=1)).isoformat()
        return self.since

    def filters(self) -> dict[str, Any]:
        """Time filters of the window (also valid for count endpoints)."""
        out = {f"{self.field}_max": self.run_start}
        low = self.lower_bound()
        if low:
            out[f"{self.field}_min"] = low
        return out

    def advance(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Account for one page of records (ascending ids)."""
        if not records:
            return
        self.last_id = records[-1]["id"]
        field, best, text = self.field, self._max_dt, self.max_seen
        for record in records:
            value = record.get(field)
            if not value:
                continue
            # Same offset and layout: the text orders like the time, no parsing needed.
            if text is not None and len(value) == len(text) and value[-6:] == text[-6:]:
                if value > text:
                    best, text = parse_ts(value), value
                continue
            when = parse_ts(value)
            if best is None or when > best:
                best, text = when, value
        self._max_dt, self.max_seen = best, text

    def checkpoint(self) -> dict[str, Any]:
        """The cursor after the current page, while more pages follow."""
        return {"field": self.field, "since": self.since, "run_start": self.since_run,
                "run": {"start": self.run_start, "last_id": self.last_id, "max_seen": self.max_seen}}

    def final(self) -> dict[str, Any]:
        """The cursor after the last page: the new high-water mark, capped at the run's start."""
        if self._max_dt is None:
            return {"field": self.field, "since": self.since, "run_start": self.since_run}
        start = parse_ts(self.run_start)
        since = self.max_seen if self._max_dt <= start else self.run_start
        return {"field": self.field, "since": since, "run_start": self.run_start}
