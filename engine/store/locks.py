"""Per-(integration, feed) leases in the database: one run at a time, across processes and machines.

Acquiring is one atomic ``INSERT .. ON CONFLICT DO UPDATE .. WHERE`` that only
takes over a lease that has expired (or is already ours), so two workers racing
for the same feed cannot both win, on SQLite or PostgreSQL. The holder renews
the lease while it works; a killed holder's lease simply runs out.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import sqlite

from engine.errors import LockedError
from engine.store.db import connection_of
from engine.store.tables import executions, locks

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from engine.store.db import Tx


def new_holder() -> str:
    """A holder id naming this host and process, unique per call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(session: Tx, integration: str, feed: str, *, holder: str, lease: timedelta,
            now: datetime) -> None:
    """Take the lease of (integration, feed) or raise :class:`LockedError` saying who has it."""
    table = locks
    if connection_of(session).dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # loaded only on PostgreSQL (start-up time)

        insert = postgresql.insert
    else:
        insert = sqlite.insert
    values = {"integration": integration, "feed": feed, "holder": holder, "execution_id": None,
              "acquired_at": now, "lease_until": now + lease}
    stmt = insert(table).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["integration", "feed"],
        set_={k: stmt.excluded[k] for k in ("holder", "execution_id", "acquired_at", "lease_until")},
        where=(table.c.lease_until < now) | (table.c.holder == holder),
    ).returning(table.c.holder)
    got = session.execute(stmt).scalar()
    if got == holder:
        return
    current = session.execute(select(locks).where(locks.c.integration == integration, locks.c.feed == feed)).one()
    msg = (f"feed {feed!r} of integration {integration!r} is already running since "
           f"{current.acquired_at:%Y-%m-%d %H:%M:%S} UTC")
    if current.execution_id:
        msg += f", execution {current.execution_id}"
    msg += f" (held by {current.holder}, lease until {current.lease_until:%H:%M:%S} UTC)"
    raise LockedError(msg, since=current.acquired_at, execution_id=current.execution_id, holder=current.holder)


def attach(session: Tx, integration: str, feed: str, *, holder: str, execution_id: int) -> None:
    """Record which execution holds the lease (shown to a second runner)."""
    c = locks.c
    session.execute(update(locks).where(c.integration == integration, c.feed == feed, c.holder == holder)
                    .values(execution_id=execution_id))


_RENEW = (update(locks)
          .where(locks.c.integration == bindparam("i"), locks.c.feed == bindparam("f"),
                 locks.c.holder == bindparam("h"))
          .values(lease_until=bindparam("until")))


def renew(session: Tx, integration: str, feed: str, *, holder: str, lease: timedelta, now: datetime) -> None:
    """Extend our lease; raise :class:`LockedError` if it was lost (expired and taken over).

    Every page of a run renews (in its own transaction), so this is one prepared
    statement: building an update each time was a twentieth of the writing process's work.
    """
    done = connection_of(session).execute(_RENEW, {"i": integration, "f": feed, "h": holder, "until": now + lease})
    if done.rowcount != 1:
        raise LockedError(f"lost the lease of feed {feed!r} of integration {integration!r}: "
                          "another worker took it over after it expired")


def release(session: Tx, integration: str, feed: str, *, holder: str) -> None:
    """Give the lease back (only if it is still ours)."""
    c = locks.c
    session.execute(delete(locks).where(c.integration == integration, c.feed == feed, c.holder == holder))


def expired_running(session: Tx, now: datetime) -> list[Row[Any]]:
    """Executions (``ce_executions`` rows) still marked running whose lease is gone (their process died)."""
    held = select(locks.c.execution_id).where(locks.c.lease_until >= now, locks.c.execution_id.is_not(None))
    return list(session.execute(select(executions).where(executions.c.status == "running",
                                                         executions.c.id.not_in(held))))
