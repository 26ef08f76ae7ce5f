"""The run of one feed: lock, cursor, pages through the pipeline, execution row, unlock.

::

    lock(integration, feed) -> load cursor -> source.read() page by page
      -> pipeline: rules -> map -> target.write(batch) + outcomes, events, cursor in one transaction
    -> execution row -> unlock -> observers
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine import boundary, checkmissing, parts, readahead, spawnread
from engine.connector import Page, RunContext
from engine.errors import AuthError, EngineError, LockedError, SlotTakenError
from engine.leasekeeper import LeaseKeeper
from engine.pipeline import Pipeline
from engine.run_context import FeedRun
from engine.store import journal, locks
from engine.store.records import ExecutionInfo, NotificationInfo, empty_counts
from engine.store.tables import executions, feed_state, parked
from engine.store.tables import locks as leases
from engine.store.upsert import upsert

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.config import IntegrationDef
    from engine.feeds import FeedDef

log = logging.getLogger(__name__)

# Marks the page of re-fetched failed records (it moves no cursor).
_RETRY = {"retry": "failed records"}

Progress = Callable[[dict[str, int], "int | None"], None]


class Runner:
    """Runs feeds for an :class:`~engine.app.Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- entry points -------------------------------------------------------------------------------

    def run(self, integration: str, feed: str, *, trigger: str = "manual", force: bool = False,
            progress: Progress | None = None, stop: threading.Event | None = None,
            read_ahead: bool = False, slot: datetime | None = None,
            early: readahead.Early | None = None) -> ExecutionInfo:
        """Run one feed now; returns its execution. Raises :class:`LockedError` if it is running.

        ``slot``: the schedule slot this run is for; :class:`SlotTakenError` if the feed was run or
        started for it since (two schedulers that found the same slot due run it once).
        ``early``: a reader :func:`engine.earlyread.read_early` forked for this run; its pages are used if they were
        read with the cursor and mode the run finds under its lock (else it is stopped).
        """
        eng = self.engine
        integ, fd = eng.integration(integration), eng.feed(integration, feed)
        reason = self._refusal(integ, fd, force)
        if reason:
            return self._skipped(integ, fd, trigger, reason)
        return self._execute(integ, fd, trigger, progress=progress, stop=stop,
                             read_ahead=self._read_ahead(fd) if read_ahead else None, slot=slot, early=early)

    def recheck(self, integration: str, feed: str, *, ids: list[int] | None = None,
                trigger: str = "retry", now: datetime | None = None) -> ExecutionInfo | None:
        """Re-check parked records of a feed: those due at ``now`` (default: the clock), or exactly ``ids``.

        None if there are none.
        """
        eng = self.engine
        integ, fd = eng.integration(integration), eng.feed(integration, feed)
        now = now or eng.clock()
        with eng.transactions() as s:
            c = parked.c
            q = select(c.record_key).where(c.integration == integ.name, c.feed == fd.name)
            q = q.where(c.id.in_(ids)) if ids is not None else q.where(c.next_check_at <= now)
            keys = list(s.scalars(q.order_by(c.id)))
        if not keys:
            return None
        if fd.writes_to_store and self._mode(integ) != "live":
            return self._skipped(integ, fd, trigger, self._test_mode_reason(integ))
        return self._execute(integ, fd, trigger, recheck_keys=keys)

    # -- refusal ------------------------------------------------------------------------------------

    def _mode(self, integ: IntegrationDef) -> str:
        return self.engine.mode(integ.name)

    @staticmethod
    def _test_mode_reason(integ: IntegrationDef) -> str:
        return (f"integration {integ.name!r} is in test mode: outbound feeds do not run and nothing is "
                f"written to the store until it goes live (connect-engine integrations go-live {integ.name})")

    def _refusal(self, integ: IntegrationDef, fd: FeedDef, force: bool) -> str | None:
        if fd.writes_to_store and self._mode(integ) != "live":
            return self._test_mode_reason(integ)  # no --force gets past test mode
        if not fd.enabled and not force:
            return f"feed {fd.name!r} is disabled for integration {integ.name!r} (run it with --force)"
        if fd.run_once and not force:
            with self.engine.transactions() as s:
                done = _once_done(s, integ.name, fd.name)
            if done is not None:
                return (f"feed {fd.name!r} runs once and already ran at {done:%Y-%m-%d %H:%M} UTC "
                        "(run it again with --force)")
        if fd.direction == "check" and not force:
            with self.engine.transactions() as s:
                pending = [b.name for b in integ.baseline(fd) if _once_done(s, integ.name, b.name) is None]
            if pending:
                return (f"feed {fd.name!r} compares against the {fd.target.side}'s {fd.target.resource}, which "
                        f"{' and '.join(map(repr, pending))} imports once and has not yet: until then every record "
                        f"would differ (run {pending[0]} first, or this feed with --force)")
        return None

    def _skipped(self, integ: IntegrationDef, fd: FeedDef, trigger: str, reason: str) -> ExecutionInfo:
        eng, now = self.engine, self.engine.clock()
        with eng.transactions.begin() as s:
            info = journal.start_execution(s, integration=integ.name, feed=fd.name, trigger=trigger, now=now,
                                           status="skipped", message=reason, finished_at=now)
        eng.hooks.execution_finished(info)
        return info

    # -- the run ------------------------------------------------------------------------------------

    def _execute(self, integ: IntegrationDef, fd: FeedDef, trigger: str, *, progress: Progress | None = None,
                 stop: threading.Event | None = None, recheck_keys: list[str] | None = None,
                 read_ahead: str | None = None, slot: datetime | None = None,
                 early: readahead.Early | None = None) -> ExecutionInfo:
        eng = self.engine
        holder, lease = locks.new_holder(), eng.config.lock_lease
        now = eng.clock()
        with eng.transactions.begin() as s:
            locks.acquire(s, integ.name, fd.name, holder=holder, lease=lease, now=now)
            if recheck_keys is None:
                self._check_partners(s, integ, fd, now)  # raising rolls the lease back
            if slot is not None:
                self._check_slot(s, integ.name, fd.name, slot)  # raising rolls the lease back
            cursor = journal.load_cursor(s, integ.name, fd.name) if fd.incremental and recheck_keys is None else None
            last = journal.last_run(s, integ.name, fd.name) if early is not None else None  # before its own marks
            ex = journal.start_execution(s, integration=integ.name, feed=fd.name, trigger=trigger, now=now,
                                         cursor=cursor, holder=holder)
            locks.attach(s, integ.name, fd.name, holder=holder, execution_id=ex.id)
            execution_id = ex.id
            if recheck_keys is None:  # a re-check of parked records does not take the feed's scheduled slot
                self._state(s, integ.name, fd.name, last_started_at=now)
        counts, notes = empty_counts(), []
        cursor_after, status, message = cursor, "success", None
        aborted = False
        reader: Generator[tuple[Page, Any], None, None] | None = None
        keeper = LeaseKeeper(eng.transactions, integ.name, fd.name, holder=holder, lease=lease, clock=eng.clock)
        try:
            keeper.start()
            source = eng.connector_for(integ, fd.source.side)
            target = eng.connector_for(integ, fd.target.side)
            with source, target:
                run = self._feed_run(integ, fd, source, target, self._mode(integ), execution_id)
                pipe = Pipeline(run)
                pipe.renew = lambda s: locks.renew(s, integ.name, fd.name, holder=holder, lease=lease, now=eng.clock())
                ctx = RunContext(integration=integ.name, feed=fd.name, mode=run.mode, params=fd.source.params,
                                 log=run.log)
                if recheck_keys is not None:
                    pages: Any = [self._refetch(run, pipe, ctx, recheck_keys, counts)]
                else:
                    with eng.transactions() as s:
                        pipe.check_parked = journal.count_parked(s, integ.name, fd.name) > 0
                        pipe.check_causes = journal.count_open_causes(s, integ.name, fd.name) > 0
                        pipe.failed = set(journal.failed_keys(s, integ.name, fd.name) if pipe.check_causes else ())
                    # Records that rang the bell before sit behind the cursor: those this run does not
                    # read again are re-fetched after the last page, so that fixing the cause (a carrier
                    # added to a map) and running the feed again is enough.
                    def read() -> Iterator[Page | None]:
                        return boundary.pages(source.read(fd.source.resource, cursor=cursor, ctx=ctx), source.name,
                                              fd.source.resource)

                    if read_ahead and early is not None and early.matches(cursor, run.mode, last):
                        log.info("taking the pages read since before the run started")
                        reader = early.pages()  # read with the cursor and mode the lock found
                    else:
                        if early is not None:
                            log.info("the pages read before the run started were read with another cursor, "
                                     "mode or last run than the run found: reading them again")
                            early.cancel()
                        reader = (readahead.pages(read, pipe.prepare) if read_ahead == "fork" else
                                  spawnread.pages(read, pipe.prepare, self._starter(integ, fd, run.mode))
                                  if read_ahead else None)
                    pages = itertools.chain(reader if reader is not None else read(),
                                            self._failed_page(run, pipe, ctx))
                for entry in pages:
                    page, prepared = entry if type(entry) is tuple else (entry, None)
                    if page is None:
                        continue
                    if fd.writes_to_store and self._mode(integ) != "live":  # it went back to test mode meanwhile
                        status, message = "interrupted", self._test_mode_reason(integ)
                        break
                    keeper.check()  # a lease lost while the page was read: another worker has the feed now
                    refetch = page.cursor == _RETRY
                    result = pipe.finish(prepared if prepared is not None else pipe.prepare(page.records),
                                         cursor=None if refetch else page.cursor, save_cursor=fd.incremental,
                                         recheck=recheck_keys is not None, refetch=refetch)
                    for k, v in result.counts.items():
                        counts[k] += v
                    notes.extend(result.notifications)
                    if page.cursor not in (None, _RETRY) and recheck_keys is None:
                        cursor_after = page.cursor
                    if progress:
                        progress(dict(counts), page.total)
                    if stop is not None and stop.is_set():
                        status, message = "interrupted", "stopped on request after the page in hand was committed"
                        break
                else:  # every page was read: a check also looks for what only the target has
                    found = checkmissing.report(pipe) if fd.direction == "check" and recheck_keys is None else None
                    if found is not None:
                        for k, v in found.counts.items():
                            counts[k] += v
                        notes.extend(found.notifications)
        except EngineError as exc:
            status, message = "failed", eng.masker.mask(f"{type(exc).__name__}: {exc}")
            log.warning("feed %s of %s failed: %s", fd.name, integ.name, message)
            if not isinstance(exc, LockedError):
                notes.append(self._ring_failure(integ, fd, execution_id, exc, message))
        except Exception as exc:  # a bug or an unexpected library error: record it, never lose the row
            status = "failed"
            message = eng.masker.mask(f"unexpected {type(exc).__name__}: {exc}")
            log.exception("feed %s of %s crashed", fd.name, integ.name)
            notes.append(self._ring_failure(integ, fd, execution_id, exc, message))
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, but leave the run recorded and the feed free
            status, message = "interrupted", "aborted (Ctrl-C again): the page in hand was not committed"
            aborted = True
        finally:
            if reader is not None:
                reader.close()  # stops and reaps the read-ahead process at once, whatever ended the run
            if early is not None:
                early.cancel()  # an early reader whose pages were not taken
            keeper.stop()
        if status == "success" and counts["errors"]:
            status = "partial"
        if status in ("success", "partial") and message is None:
            message = _summary(counts)
        info = self._finish(integ, fd, execution_id, holder, status, counts, cursor_after, message, notes,
                            recheck=recheck_keys is not None)
        if aborted:
            raise KeyboardInterrupt
        return info

    def _feed_run(self, integ: IntegrationDef, fd: FeedDef, source: Any, target: Any, mode: str,
                  execution_id: int | None) -> FeedRun:
        eng = self.engine
        return parts.feed_run(integ, fd, source, target, transactions=eng.transactions, compiler=eng.compiler,
                              clock=eng.clock, tz=eng.tz, mode=mode, masker=eng.masker, execution_id=execution_id)

    @staticmethod
    def _check_partners(session: Any, integ: IntegrationDef, fd: FeedDef, now: datetime) -> None:
        """A check and the export of what it reads never run at once, in any process: the later one waits."""
        partners = [f.name for f in integ.exclusive_with(fd)]
        if not partners:
            return
        c = leases.c
        held = session.execute(select(leases).where(c.integration == integ.name, c.feed.in_(partners),
                                                    c.lease_until >= now)).first()
        if held is not None:
            raise LockedError(f"feed {fd.name!r} of integration {integ.name!r} waits: {held.feed!r} is running "
                              f"(execution {held.execution_id}) and writes what the check reads; the later of the "
                              "two runs once the other is done", since=held.acquired_at,
                              execution_id=held.execution_id, holder=held.holder)

    @staticmethod
    def _check_slot(session: Any, integration: str, feed: str, slot: datetime) -> None:
        c = feed_state.c
        state = session.execute(select(c.last_scheduled_for, c.last_started_at).where(
            c.integration == integration, c.feed == feed)).first()
        marks = [t for t in state if t is not None] if state else []
        if marks and max(marks) >= slot:
            raise SlotTakenError(f"feed {feed!r} of integration {integration!r} already ran for its "
                                 f"{slot:%Y-%m-%d %H:%M} UTC slot (started {max(marks):%H:%M:%S} UTC, by another "
                                 "scheduler)")

    def _read_ahead(self, fd: FeedDef) -> str | None:
        """How a run may read the store's pages in a second process: forked (engine.readahead), started by
        the fork server where this process has other threads (engine.spawnread), or not (None)."""
        if not (fd.source.side == "store" and fd.target.side == "hub" and self.engine.config.read_ahead):
            return None
        if readahead.available():
            return "fork"
        return "spawn" if self.engine.origin is not None and spawnread.available() else None

    def _starter(self, integ: IntegrationDef, fd: FeedDef, mode: str) -> Callable[[Any], spawnread.Spawned | None]:
        origin = self.engine.origin
        assert origin is not None
        return lambda cursor: spawnread.start(origin, integ.name, fd.name, cursor, mode)

    @staticmethod
    def _failed_page(run: FeedRun, pipe: Pipeline, ctx: RunContext) -> Iterator[Page]:
        """The records with an open notification that this run has not read: re-fetched by key."""
        fd = run.feed
        resource = run.source.resource(fd.source.resource)
        keys = sorted(pipe.failed)
        if not keys or fd.direction == "check" or resource is None or not resource.fetch:
            return
        records = list(run.source.fetch(fd.source.resource, keys, ctx=ctx))
        if records:
            yield Page(records=records, cursor=_RETRY)

    def _refetch(self, run: FeedRun, pipe: Pipeline, ctx: RunContext, keys: list[str],
                 counts: dict[str, int]) -> Any:
        fd = run.feed
        records = list(run.source.fetch(fd.source.resource, keys, ctx=ctx))
        found = {str(r.get(pipe.source_key)) for r in records}
        gone = [k for k in keys if k not in found]
        if gone:
            with run.transactions.begin() as s:
                journal.unpark(s, run.integration.name, fd.name, gone)
                journal.add_events(s, [{"execution_id": run.execution_id, "integration": run.integration.name,
                                        "feed": fd.name, "record_key": k, "severity": "info",
                                        "message": f"record {k} is no longer in the {fd.source.side}; "
                                                   "stopped re-checking it",
                                        "details": None, "created_at": run.now()} for k in gone])
            counts["info"] += len(gone)
        return Page(records=records)

    def _ring_failure(self, integ: IntegrationDef, fd: FeedDef, execution_id: int, exc: Exception,
                      message: str) -> NotificationInfo:
        eng = self.engine
        hint = ("Check the integration's credentials and access scopes." if isinstance(exc, AuthError)
                else "The run stopped; the next run resumes from the last committed page." if fd.incremental
                else "The run stopped; the next run reads again from the start (the feed is not incremental): "
                     "what was committed comes back unchanged.")
        with eng.transactions.begin() as s:
            info, _ = journal.ring(s, integration=integ.name, feed=fd.name, record_key=None, record_label=None,
                                   kind=f"run-failed:{type(exc).__name__}", message=message, hint=hint,
                                   details=None, now=eng.clock(), execution_id=execution_id)
            return info

    def _finish(self, integ: IntegrationDef, fd: FeedDef, execution_id: int, holder: str, status: str,
                counts: dict[str, int], cursor_after: Any, message: str | None,
                notes: list[NotificationInfo], *, recheck: bool = False) -> ExecutionInfo:
        eng = self.engine
        now = eng.clock()
        with eng.transactions.begin() as s:
            journal.finish_execution(s, execution_id, status=status, now=now, counts=counts,
                                     cursor_after=cursor_after, message=message)
            if not recheck:  # a re-check of parked records is not a run of the feed: its state stays
                done = {"last_finished_at": now, "last_status": status}
                if status in ("success", "partial"):
                    done["last_success_at"] = now
                    if fd.run_once:
                        done["once_done_at"] = now
                    journal.resolve_run_failures(s, integration=integ.name, feed=fd.name,
                                                 execution_id=execution_id, now=now)  # its failed runs need nobody
                self._state(s, integ.name, fd.name, **done)
            locks.release(s, integ.name, fd.name, holder=holder)
        with eng.transactions() as s:
            info = journal.execution_info(s.execute(select(executions).where(executions.c.id == execution_id)).one())
        eng.hooks.execution_finished(info)
        for note in notes:
            eng.hooks.notification_raised(note)
        return info

    @staticmethod
    def _state(session: Any, integration: str, feed: str, **values: datetime | str | None) -> None:
        upsert(session, feed_state, [{"integration": integration, "feed": feed, **values}],
               key=["integration", "feed"])


def _summary(counts: dict[str, int]) -> str:
    parts = [f"{v} {k}" for k, v in counts.items() if v]
    return ", ".join(parts) if parts else "nothing to do"


def _once_done(session: Any, integration: str, feed: str) -> datetime | None:
    """When a run-once feed ran (None: never)."""
    c = feed_state.c
    done: datetime | None = session.scalar(select(c.once_done_at).where(c.integration == integration,
                                                                        c.feed == feed))
    return done
