"""Closing executions that a dead process left ``running``.

``connect-engine run`` does this before each run, ``serve`` at startup and then
once per lease period; here rather than in :mod:`engine.serve` so a single run
does not import the scheduler.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from engine.store import journal, locks
from engine.store.tables import executions, feed_state
from engine.store.tables import locks as leases

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.store.records import ExecutionInfo

log = logging.getLogger(__name__)


def reap_dead(engine: Engine, now: datetime | None = None) -> list[ExecutionInfo]:
    """Close executions left ``running`` by processes whose lease expired; return them.

    Each is marked ``failed`` with a message saying what happened, keeps the
    cursor its last committed page saved, and is reported to the observers.
    """
    now = now or engine.clock()
    out = []
    with engine.transactions.begin() as s:
        for row in locks.expired_running(s, now):
            lease = s.execute(select(leases).where(leases.c.integration == row.integration,
                                                   leases.c.feed == row.feed, leases.c.execution_id == row.id)
                              ).one_or_none()
            until = f", its lease expired at {lease.lease_until:%Y-%m-%d %H:%M:%S} UTC" if lease else ""
            message = (f"the process running this execution ({row.holder or 'unknown holder'}) stopped without "
                       f"finishing it (killed or crashed){until}; the next run resumes from the last committed page")
            cursor = journal.load_cursor(s, row.integration, row.feed)
            journal.finish_execution(s, row.id, status="failed", now=now, counts=row.counts or {},
                                     cursor_after=cursor, message=message)
            s.execute(update(feed_state)  # finish time left alone: the scheduler resumes the feed
                      .where(feed_state.c.integration == row.integration, feed_state.c.feed == row.feed)
                      .values(last_status="failed"))
            out.append(row.id)
    infos = []
    with engine.transactions() as s:
        for execution_id in out:
            infos.append(journal.execution_info(
                s.execute(select(executions).where(executions.c.id == execution_id)).one()))
    for info in infos:
        log.warning("execution %s (%s of %s) was left running by a dead process; marked failed",
                    info.id, info.feed, info.integration)
        engine.hooks.execution_finished(info)
    return infos
