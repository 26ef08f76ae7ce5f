"""Keeping a running feed's lease alive while the run works, however long one page takes.

A run holds its feed's lease (:mod:`engine.store.locks`) for ``lock_lease_seconds``.
Renewing it between pages is not enough: one page can outlast the lease (a store
throttling through its whole retry budget, a slow hub write, a long batch of
shipments pushed at two requests a second), and then another worker takes the feed
over while this run is still inside the page: two runs read the same records, and
an outbound feed may push them twice.

So a run starts a :class:`LeaseKeeper`: a daemon thread that renews the lease every
third of its length, in its own session, for as long as the run lives. If a renewal
finds the lease taken over (the process was frozen, or the database unreachable, for
a whole lease), the keeper stops and :meth:`LeaseKeeper.check` raises the
:class:`~engine.errors.LockedError` in the run, which stops before its next page.
A renewal that fails for another reason (the database busy or briefly away) is
logged and tried again at the next beat: two more chances before the lease runs out.

Forking a read-ahead process (:mod:`engine.readahead`) with the keeper running is
safe: the fork waits for a renewal in progress to end and holds the keepers still
across it (``os.register_at_fork``), and the child never touches the database.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from engine.errors import LockedError
from engine.store import locks
from engine.store.db import connection_of

log = logging.getLogger(__name__)

_renewing = threading.Lock()  # held by a keeper while it renews, and by a forking thread across the fork


class LeaseKeeper:
    """Renews one held lease in a background thread until :meth:`stop`."""

    def __init__(self, transactions: Any, integration: str, feed: str, *, holder: str, lease: timedelta,
                 clock: Callable[[], datetime]) -> None:
        self.transactions, self.integration, self.feed = transactions, integration, feed
        self.holder, self.lease, self.clock = holder, lease, clock
        self.lost: LockedError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease {integration}/{feed}", daemon=True)

    def start(self) -> None:
        """Start renewing, every third of the lease."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the run is ending; it releases the lease itself)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def check(self) -> None:
        """Raise the :class:`LockedError` of a lease that was lost to another worker, if it was."""
        if self.lost is not None:
            raise self.lost

    def _beat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                with _renewing, self.transactions.begin() as s:
                    connection_of(s)  # BEGIN first (on SQLite it waits for a page in progress): the lease runs from now
                    now = self.clock()
                    locks.renew(s, self.integration, self.feed, holder=self.holder, lease=self.lease, now=now)
                log.info("renewed the lease of %s/%s until %s UTC", self.integration, self.feed,
                         f"{now + self.lease:%H:%M:%S}")
            except LockedError as exc:
                self.lost = exc
                log.error("%s", exc)
                return
            except Exception as exc:  # the database busy or away: the next beat tries again
                log.warning("could not renew the lease of %s/%s (will try again in %.0f s): %s",
                            self.integration, self.feed, interval, exc)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_renewing.acquire, after_in_parent=_renewing.release,
                        after_in_child=_renewing.release)
