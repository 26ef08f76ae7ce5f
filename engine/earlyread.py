"""Reading a store -> hub feed's pages from before its run starts (``connect-engine run FEED``).

The command forks the run's read-ahead process (:mod:`engine.readahead`) before it
brings the schema up to date, closes dead runs and takes the feed's lock, with what
the database says now; the run takes those pages only if it finds the same under its
lock (:meth:`engine.readahead.Early.matches`). docs/decisions.md section 23. On a
SQLite file the reader is forked even earlier, before the engine loads
(:mod:`engine.earlyfork`, section 24); this is the way where that one does not apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from engine import earlyfork, readahead
from engine.connector import RunContext
from engine.errors import EngineError
from engine.pipeline import Pipeline
from engine.store import journal
from engine.store.db import reading
from engine.store.tables import integration_state, locks

if TYPE_CHECKING:
    from engine.runner import Runner


def read_early(runner: Runner, integration: str, feed: str, *, force: bool = False) -> readahead.Early | None:
    """Fork the reader of a store -> hub run before the run starts (None where it does not apply).

    What the run will read with is guessed from the database as it is now: the feed's
    cursor and last run, the integration's mode (a new database: none, and the initial
    mode). The run checks them under its lock and takes the pages only if they still
    hold. The caller may bring the schema up to date and close dead runs meanwhile.
    """
    eng = runner.engine
    try:
        integ, fd = eng.integration(integration), eng.feed(integration, feed)
    except EngineError:
        return None  # the run itself says what is wrong
    if not readahead.available() or earlyfork.not_early(fd, read_ahead=eng.config.read_ahead, force=force):
        return None
    try:
        with reading(eng.db)() as s:  # a read: on SQLite it does not wait for another process's write lock
            cursor = journal.load_cursor(s, integ.name, fd.name) if fd.incremental else None
            state = s.execute(select(integration_state.c.mode).where(integration_state.c.name == integ.name)).first()
            last = journal.last_run(s, integ.name, fd.name)
            lease = s.execute(select(locks.c.lease_until).where(locks.c.integration == integ.name,
                                                                locks.c.feed == fd.name)).first()
    except DBAPIError:  # no tables yet (a new database), or a schema the run will bring up to date first
        cursor, state, last, lease = None, None, None, None
    if fd.run_once and last is not None and last[2] is not None and not force:
        return None  # it ran once: the run will be refused
    if lease is not None and lease.lease_until >= eng.clock():
        return None  # another process runs the feed: the run will be refused as locked
    mode = state.mode if state is not None else integ.mode
    try:
        source = eng.connector_for(integ, fd.source.side)
        run = runner._feed_run(integ, fd, source, eng.connector_for(integ, fd.target.side), mode, None)
        prepare = Pipeline(run).prepare
    except Exception:  # a connector that cannot be built fails the run itself, with its bell
        return None
    ctx = RunContext(integration=integ.name, feed=fd.name, mode=mode, params=fd.source.params, log=run.log)
    # The generator runs in the reader only.
    return readahead.start(earlyfork.source_pages(source, fd, cursor, ctx), prepare, cursor=cursor, mode=mode,
                           last=last)
