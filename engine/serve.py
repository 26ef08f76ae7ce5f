"""The long-running scheduler loop behind ``connect-engine serve``.

It sleeps until the next cron slot or parked check (at most ``max_interval``
seconds), hands due work to a thread pool, and never runs a feed that is
already in flight. SIGTERM or Ctrl-C sets one event: running feeds finish the
page in hand, record their execution as ``interrupted`` and release their
lease; work not yet started is dropped; the loop returns 0.

At startup (and then once per lease period) executions left ``running`` by a
process that died are closed as ``failed``; the feed is then due again and
resumes from its last committed cursor.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.grouping import group_for_run, held_back

if TYPE_CHECKING:  # loaded with the engine: `connect-engine --help` imports the command's module, and this one
    from engine.app import Engine
    from engine.scheduler import TickResult, WorkItem

log = logging.getLogger(__name__)

DEFAULT_MAX_INTERVAL = 30.0
MIN_INTERVAL = 0.05


class Server:
    """Runs every enabled feed of every integration on its schedule until stopped.

    Args:
        engine: The engine.
        pool_size: Feeds run at the same time (default: the configuration's ``pool_size``).
        max_interval: Longest sleep between two looks at what is due, in seconds.
        on_result: Called (from a worker thread) with each finished work item.
        on_event: Called with a line worth showing (startup, reaped runs, stopping).
    """

    def __init__(self, engine: Engine, *, pool_size: int | None = None,
                 max_interval: float = DEFAULT_MAX_INTERVAL,
                 on_result: Callable[[TickResult], None] | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.pool_size = max(1, pool_size or engine.config.pool_size)
        self.max_interval = max_interval
        self.on_result = on_result
        self.on_event = on_event or (lambda line: log.info("%s", line))
        self.stop = threading.Event()
        self._wake = threading.Event()
        self._inflight: dict[tuple[str, str], Future[list[TickResult]]] = {}

    def request_stop(self, *_: Any) -> None:
        """Finish the pages in hand, start nothing new, and return (signal handler compatible)."""
        self.stop.set()  # only ever read elsewhere (is_set takes no lock): safe inside a signal handler
        # The loop may hold the wake event's lock at the moment a signal arrives; set it from another thread.
        threading.Thread(target=self._wake.set, name="connect-engine-stop", daemon=True).start()

    def install_signals(self) -> Callable[[], None]:
        """Route SIGTERM and SIGINT to :meth:`request_stop`; returns a function restoring the old handlers."""
        old = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in old.items():
                signal.signal(sig, handler)

        return restore

    def serve(self, *, once: bool = False) -> int:
        """Loop until :meth:`request_stop` (or, with ``once``, run what is due now and wait for it); returns 0."""
        from sqlalchemy.exc import SQLAlchemyError

        eng = self.engine
        self._reap()
        if not once and eng.origin is not None and eng.config.read_ahead:
            from engine import spawnread

            spawnread.warm()  # the fork server starts (and imports) now, not in the first long run
        scheduler = eng.scheduler
        last_reap = eng.clock()
        with ThreadPoolExecutor(max_workers=self.pool_size, thread_name_prefix="connect-engine") as pool:
            try:
                while not self.stop.is_set():
                    self._wake.clear()
                    now = eng.clock()
                    try:
                        if now - last_reap >= eng.config.lock_lease:
                            self._reap(now)
                            last_reap = now
                        self._submit(pool, scheduler.due(now))
                    except (EngineError, SQLAlchemyError) as exc:
                        if once:
                            raise
                        self.on_event(f"error: could not read what is due ({exc}); trying again shortly")
                        self._wake.wait(self.max_interval)
                        continue
                    if once:
                        for fut in list(self._inflight.values()):
                            fut.result()
                        break
                    self._wake.wait(self._sleep_for(now, scheduler.next_wake(now)))
            finally:
                if self.stop.is_set() and self._inflight:
                    running = len({f for f in self._inflight.values() if f.running()})
                    self.on_event(f"stopping: waiting for {running} running feed(s) to finish the page in hand")
                pool.shutdown(wait=True, cancel_futures=True)
        return 0

    def _submit(self, pool: ThreadPoolExecutor, items: list[WorkItem]) -> None:
        for key, fut in list(self._inflight.items()):
            if fut.done():
                del self._inflight[key]
        for group in group_for_run(items, self.engine.config.integrations, busy=self._inflight):
            keys = {item.key for item in group}  # a check runs in the group of the export before it
            if keys & self._inflight.keys():
                continue
            fut = pool.submit(self._run_group, group)
            fut.add_done_callback(lambda _f: self._wake.set())
            for key in keys:
                self._inflight[key] = fut

    def _run_group(self, group: list[WorkItem]) -> list[TickResult]:
        results = []
        locked: set[tuple[str, str]] = set()
        for item in group:
            if self.stop.is_set():
                break
            if held_back(item, locked, self.engine.config.integrations):
                continue  # its export runs elsewhere: the check stays due
            # serve owns its process: a store -> hub run reads ahead in a reader the fork server starts
            result = self.engine.scheduler.run_item(item, trigger="schedule", stop=self.stop, read_ahead=True)
            if result.locked:
                locked.add(item.key)
            results.append(result)
            if self.on_result is not None:
                try:
                    self.on_result(result)
                except Exception:  # a display problem must not stop the scheduler
                    log.exception("on_result callback raised; ignored")
        return results

    def _sleep_for(self, now: datetime, nxt: datetime | None) -> float:
        if nxt is None or nxt <= now:
            return self.max_interval  # what is due is in flight or locked elsewhere
        return min(self.max_interval, max(MIN_INTERVAL, (nxt - now).total_seconds() + MIN_INTERVAL))

    def _reap(self, now: datetime | None = None) -> None:
        from engine.reaper import reap_dead

        for info in reap_dead(self.engine, now):
            self.on_event(f"execution {info.id} ({info.feed} of {info.integration}) was left running by a "
                          "process that died; marked failed, the feed resumes from its last committed page")
