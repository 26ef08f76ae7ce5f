"""The scheduler: which feeds and parked re-checks are due now, and a tick that runs them in a local pool.

A feed is due once for the latest slot of its cron schedule (in the engine's
time zone) that is newer than the last time it was scheduled or started: after
a downtime that missed ten slots it runs once, not ten times. A feed whose last
run never finished (its process died, or it was stopped with SIGTERM) is due
again as soon as no live lease holds it, and resumes from its committed cursor.
Parked records whose next check has come are a separate kind of work.

``due(now)`` reads the whole scheduling state in a handful of queries (never
one per feed) and evaluates each distinct cron expression once per slot.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import and_, case, func, or_, select, update

from engine.errors import EngineError, LockedError
from engine.grouping import group_for_run, held_back
from engine.slots import SlotCache
from engine.store import tables
from engine.store.upsert import upsert

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.store.records import ExecutionInfo

log = logging.getLogger(__name__)

Kind = Literal["feed", "parked"]


@dataclass(frozen=True)
class WorkItem:
    """One piece of due work.

    Attributes:
        kind: ``feed`` (run the feed) or ``parked`` (re-check its parked records).
        integration: The integration's name.
        feed: The feed's name.
        scheduled_for: ``feed``: the cron slot the run is for; ``parked``: the
            earliest next check among the due records.
        reason: Why it is due: ``schedule``, ``never ran``, ``resume`` (the last
            run did not finish) or ``parked``.
        count: ``parked``: how many records are due for a re-check.
    """

    kind: Kind
    integration: str
    feed: str
    scheduled_for: datetime
    reason: str = "schedule"
    count: int = 0

    @property
    def key(self) -> tuple[str, str]:
        """(integration, feed): work items with the same key never run at the same time."""
        return self.integration, self.feed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"kind": self.kind, "integration": self.integration, "feed": self.feed,
                "scheduled_for": self.scheduled_for.isoformat(), "reason": self.reason, "count": self.count}


@dataclass(frozen=True)
class TickResult:
    """What became of one work item.

    Attributes:
        item: The work item.
        execution: The execution it produced (None if it was locked, failed to
            start, or a re-check found nothing left to do).
        locked: The lock holder's message when the feed was running elsewhere.
        error: Why the work could not start at all.
    """

    item: WorkItem
    execution: ExecutionInfo | None = None
    locked: str | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """The execution's status, or ``locked``, ``error`` or ``nothing to do``."""
        if self.execution is not None:
            return self.execution.status
        if self.locked:
            return "locked"
        return "error" if self.error else "nothing to do"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**self.item.as_dict(), "status": self.status,
                "execution": self.execution.as_dict() if self.execution else None,
                "locked": self.locked, "error": self.error}


class Scheduler:
    """Finds due work for an :class:`~engine.app.Engine` and runs it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.slots = SlotCache(engine.tz)
        self.next_parked: datetime | None = None
        self._bad: set[tuple[str, str]] = set()

    # -- what is due ------------------------------------------------------------------------------

    def due(self, now: datetime | None = None) -> list[WorkItem]:
        """Every feed run and parked re-check due at ``now`` (default: the engine's clock), oldest first.

        Disabled feeds, run-once feeds that already ran, and outbound feeds of
        integrations in test mode (the core would refuse them) are never due; a check
        feed is not due before the one-time import it compares against has run
        (``IntegrationDef.baseline``).
        """
        eng = self.engine
        now = now or eng.clock()
        with eng.transactions() as db:  # plain rows: 11,000 feeds' state read in a handful of queries
            states = {(r[0], r[1]): r[2:] for r in db.execute(_STATE)}
            lk, st, pk = tables.locks.c, tables.integration_state.c, tables.parked.c
            locked = {(r[0], r[1]) for r in db.execute(select(lk.integration, lk.feed).where(lk.lease_until >= now))}
            modes = {r[0]: r[1] for r in db.execute(select(st.name, st.mode))}
            parked = db.execute(select(pk.integration, pk.feed, func.min(pk.next_check_at), func.count())
                                .where(pk.next_check_at <= now)
                                .group_by(pk.integration, pk.feed)).all()
            self.next_parked = db.scalar(select(func.min(pk.next_check_at)).where(pk.next_check_at > now))
        items: list[WorkItem] = []
        for integ in eng.config.integrations.values():
            live = modes.get(integ.name, integ.mode) == "live"
            for fd in integ.feeds.values():
                if not fd.enabled or (fd.writes_to_store and not live):
                    continue
                state = states.get((integ.name, fd.name))
                if fd.run_once and state is not None and state[3]:
                    continue
                if any(not _once_done(states.get((integ.name, b.name))) for b in integ.baseline(fd)):
                    continue  # a check waits for the one-time import of what it compares against
                try:
                    slot = self.slots.latest(fd.schedule, now)
                except ValueError as exc:
                    self._warn_once(integ.name, fd.name, str(exc))
                    continue
                reason = _reason(state, slot, (integ.name, fd.name) in locked)
                if reason:
                    items.append(WorkItem("feed", integ.name, fd.name, slot, reason))
        for name, feed, first, count in parked:
            owner = eng.config.integrations.get(name)
            pfd = owner.feeds.get(feed) if owner else None
            if owner is None or pfd is None or not pfd.enabled:
                continue  # no longer configured, or switched off
            if pfd.writes_to_store and modes.get(name, owner.mode) != "live":
                continue
            items.append(WorkItem("parked", name, feed, first, "parked", int(count)))
        items.sort(key=lambda i: (i.scheduled_for, i.kind, i.integration, i.feed))
        return items

    def next_wake(self, now: datetime) -> datetime | None:
        """When something may next fall due (a cron slot or a parked record's check), after a :meth:`due`."""
        times = [t for t in (self.slots.earliest_next(now), self.next_parked) if t is not None]
        return min(times) if times else None

    def _warn_once(self, integration: str, feed: str, problem: str) -> None:
        if (integration, feed) not in self._bad:
            self._bad.add((integration, feed))
            log.warning("feed %s of %s is never scheduled: %s", feed, integration, problem)

    # -- running it -------------------------------------------------------------------------------

    def tick(self, now: datetime | None = None, *, trigger: str = "schedule", pool_size: int | None = None,
             stop: threading.Event | None = None, read_ahead: bool = False) -> list[TickResult]:
        """Run everything due at ``now`` in a pool of ``pool_size`` threads and wait for it.

        A feed locked by another process is reported (``locked``), not failed,
        and stays due. Work of the same feed runs in order in one thread. A pool of
        one runs in the calling thread, where ``read_ahead`` (the caller owns the
        process: ``run --due``) lets store -> hub runs fork their reader; in a pool of
        threads the fork server starts it (engine.spawnread).
        """
        groups = group_for_run(self.due(now), self.engine.config.integrations)
        if not groups:
            return []
        size = max(1, min(pool_size or self.engine.config.pool_size, len(groups)))
        if size == 1:  # no thread to start: a forked reader needs a process with no other threads
            return [r for g in groups for r in self.run_group(g, trigger=trigger, stop=stop, now=now,
                                                              read_ahead=read_ahead)]
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="connect-engine") as pool:
            futures = [pool.submit(self.run_group, g, trigger=trigger, stop=stop, now=now, read_ahead=read_ahead)
                       for g in groups]
            return [r for f in futures for r in f.result()]

    def run_group(self, items: list[WorkItem], *, trigger: str = "schedule", stop: threading.Event | None = None,
                  now: datetime | None = None, read_ahead: bool = False) -> list[TickResult]:
        """Run the work items of one group, one after the other (stops early if ``stop`` is set).

        A check whose writing feed came back locked (running elsewhere) is left for later: it stays due.
        """
        out: list[TickResult] = []
        locked: set[tuple[str, str]] = set()
        for item in items:
            if stop is not None and stop.is_set():
                break
            if held_back(item, locked, self.engine.config.integrations):
                continue
            result = self.run_item(item, trigger=trigger, stop=stop, now=now, read_ahead=read_ahead)
            if result.locked:
                locked.add(item.key)
            out.append(result)
        return out

    def run_item(self, item: WorkItem, *, trigger: str = "schedule", stop: threading.Event | None = None,
                 now: datetime | None = None, read_ahead: bool = False) -> TickResult:
        """Run one work item; never raises (a lock held elsewhere or an error is in the result).

        ``now`` is the time the item was found due at (a re-check takes the records due then).
        """
        eng = self.engine
        try:
            if item.kind == "parked":
                info = eng.recheck(item.feed, item.integration, trigger="retry", now=now)
                self._postpone_unchecked(item)
                return TickResult(item, info)
            try:
                slot = item.scheduled_for if item.reason != "resume" else None  # a resume picks up, whatever ran
                run = eng.run(item.feed, item.integration, trigger=trigger, stop=stop, slot=slot,
                              read_ahead=read_ahead)
            except LockedError:
                raise  # the holder is doing this slot's work; try again on the next tick
            except Exception:
                self._mark_scheduled(item)  # a feed that cannot start waits for its next slot
                raise
            self._mark_scheduled(item)
            return TickResult(item, run)
        except LockedError as exc:
            return TickResult(item, locked=str(exc))
        except EngineError as exc:
            log.warning("%s %s of %s could not start: %s", item.kind, item.feed, item.integration, exc)
            return TickResult(item, error=eng.masker.mask(str(exc)))
        except Exception as exc:  # one broken feed must not end the scheduler
            log.exception("%s %s of %s crashed", item.kind, item.feed, item.integration)
            return TickResult(item, error=eng.masker.mask(f"unexpected {type(exc).__name__}: {exc}"))

    def _mark_scheduled(self, item: WorkItem) -> None:
        with self.engine.transactions.begin() as s:
            upsert(s, tables.feed_state, [{"integration": item.integration, "feed": item.feed,
                                             "last_scheduled_for": item.scheduled_for}],
                   key=["integration", "feed"])

    def _postpone_unchecked(self, item: WorkItem) -> None:
        """Records a re-check did not reach (the store was down) wait for the next slot, not the next tick."""
        eng = self.engine
        now = eng.clock()
        fd = eng.feed(item.integration, item.feed)
        try:
            nxt = self.slots.next_slot(fd.retry.schedule, now)
        except ValueError:
            nxt = now + timedelta(hours=1)
        with eng.transactions.begin() as s:
            pk = tables.parked.c
            s.execute(update(tables.parked).where(pk.integration == item.integration, pk.feed == item.feed,
                                                  pk.next_check_at <= now).values(next_check_at=nxt))


# One row per feed, computed by the database so only one timestamp per row is converted:
# (integration, feed, mark = the later of last scheduled slot and last start, unfinished, last_status, once_done)
_FS = tables.feed_state.c
_STATE = select(
    _FS.integration, _FS.feed,
    case((_FS.last_started_at.is_(None), _FS.last_scheduled_for),
         (_FS.last_scheduled_for.is_(None), _FS.last_started_at),
         (_FS.last_scheduled_for > _FS.last_started_at, _FS.last_scheduled_for),
         else_=_FS.last_started_at),
    and_(_FS.last_started_at.is_not(None),
         or_(_FS.last_finished_at.is_(None), _FS.last_finished_at < _FS.last_started_at)),
    _FS.last_status,
    _FS.once_done_at.is_not(None),
)


def _once_done(state: tuple[Any, ...] | None) -> bool:
    return state is not None and bool(state[3])


def _reason(state: tuple[Any, ...] | None, slot: datetime, locked: bool) -> str | None:
    """Why a feed is due for ``slot`` given its ``_STATE`` row (without the key), or None."""
    if state is None or state[0] is None:
        return "never ran"
    mark, unfinished, last_status = state[0], state[1], state[2]
    if not locked and (unfinished or last_status == "interrupted"):
        return "resume"  # its process died or was stopped: pick up from the committed cursor
    return "schedule" if slot > mark else None
