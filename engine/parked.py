"""Parked records as a person sees them: list them, re-check some now, or give up on some."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from engine.errors import EngineError, LockedError
from engine.scheduler import TickResult, WorkItem
from engine.store import journal, tables

if TYPE_CHECKING:
    from collections.abc import Sequence

    from engine.app import Engine


@dataclass(frozen=True)
class ParkedInfo:
    """One parked record, detached from any session.

    Attributes:
        id: Its id (for ``parked retry`` / ``parked drop``).
        integration: The integration's name.
        feed: The feed that parked it.
        record_key: The source record's key.
        record_label: Its human label (order number, SKU), if the feed defines one.
        reason: Why it was parked (the rule's message or the store's answer).
        attempts: Checks so far (the first one included).
        max_attempts: Re-checks after which it escalates to an error (None: until it expires).
        parked_at: When it was first parked.
        last_checked_at: When it was last checked.
        next_check_at: When it is checked next.
        expires_at: When it is given up.
    """

    id: int
    integration: str
    feed: str
    record_key: str
    record_label: str | None
    reason: str
    attempts: int
    max_attempts: int | None
    parked_at: datetime
    last_checked_at: datetime
    next_check_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        for k in ("parked_at", "last_checked_at", "next_check_at", "expires_at"):
            d[k] = d[k].isoformat()
        return d


def list_parked(engine: Engine, *, integration: str | None = None, feed: str | None = None,
                ids: Sequence[int] | None = None) -> list[ParkedInfo]:
    """Parked records, next check first, optionally of one integration / feed or exactly ``ids``."""
    c = tables.parked.c
    q = select(tables.parked).order_by(c.next_check_at, c.id)
    if integration:
        q = q.where(c.integration == integration)
    if feed:
        q = q.where(c.feed == feed)
    out = []
    with engine.transactions() as s:
        rows = list(s.execute(q)) if ids is None else [
            r for part in journal.chunks(list(ids)) for r in s.execute(q.where(c.id.in_(part)))]
        for r in rows:
            integ = engine.config.integrations.get(r.integration)
            fd = integ.feeds.get(r.feed) if integ else None
            out.append(ParkedInfo(r.id, r.integration, r.feed, r.record_key, r.record_label, r.reason, r.attempts,
                                  fd.retry.max_attempts if fd else None, r.parked_at, r.last_checked_at,
                                  r.next_check_at, r.expires_at))
    return out


def _known(engine: Engine, ids: Sequence[int]) -> list[ParkedInfo]:
    found = list_parked(engine, ids=ids)
    missing = sorted(set(ids) - {p.id for p in found})
    if missing:
        raise EngineError(f"no parked record with id {', '.join(map(str, missing))} "
                          "(connect-engine parked lists them)")
    return found


def retry_parked(engine: Engine, ids: Sequence[int] | None = None) -> list[TickResult]:
    """Re-check parked records now (exactly ``ids``, or all), one execution per feed.

    Raises:
        EngineError: An id is unknown (nothing is re-checked then).
    """
    rows = list_parked(engine) if ids is None else _known(engine, ids)
    groups: dict[tuple[str, str], list[ParkedInfo]] = {}
    for p in rows:
        groups.setdefault((p.integration, p.feed), []).append(p)
    results = []
    for (integration, feed), parked in groups.items():
        item = WorkItem("parked", integration, feed, min(p.next_check_at for p in parked), "manual", len(parked))
        if integration not in engine.config.integrations or feed not in engine.config.integrations[integration].feeds:
            results.append(TickResult(item, error=f"feed {feed!r} of integration {integration!r} is no longer "
                                                  "configured; drop its parked records (connect-engine parked drop)"))
            continue
        try:
            info = engine.recheck(feed, integration, ids=[p.id for p in parked], trigger="manual")
            results.append(TickResult(item, info))
        except LockedError as exc:
            results.append(TickResult(item, locked=str(exc)))
    return results


def drop_parked(engine: Engine, ids: Sequence[int], *, reason: str | None = None) -> list[ParkedInfo]:
    """Give up on parked records: they are forgotten and an ``info`` event says who dropped what.

    Raises:
        EngineError: An id is unknown (nothing is dropped then).
    """
    found = _known(engine, ids)
    now = engine.clock()
    why = reason or "dropped by a person (connect-engine parked drop)"
    with engine.transactions.begin() as s:
        for part in journal.chunks([p.id for p in found]):
            s.execute(delete(tables.parked).where(tables.parked.c.id.in_(part)))
        journal.add_events(s, [{"execution_id": None, "integration": p.integration, "feed": p.feed,
                                "record_key": p.record_key, "severity": "info",
                                "message": f"stopped re-checking record {p.record_label or p.record_key} after "
                                           f"{p.attempts} check(s): {why}; it was parked because: {p.reason}",
                                "details": None, "created_at": now} for p in found])
    return found
