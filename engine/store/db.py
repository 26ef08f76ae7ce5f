"""Database engine, Core transactions and ORM sessions for a configured URL.

The engine's own work (runs, the scheduler, bookkeeping, the hub's reads and writes) uses Core
connections from :class:`Transactions`. ORM sessions (:class:`LazySessions`) are there for code
that wants objects; SQLAlchemy's ORM is imported when the first one is made, so a command that
never asks for one does not pay for it (docs/decisions.md §26).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.pool import QueuePool

from engine.store import jsontext

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session, sessionmaker

    #: A transaction handle the engine's store functions take: a Core connection, or an ORM session.
    Tx: TypeAlias = Connection | Session


class Transactions:
    """Core connections on the engine's database, used like a ``sessionmaker``.

    ``with transactions() as conn``: a connection whose transaction begins with its first
    statement and is rolled back at the end unless committed; ``with transactions.begin() as
    conn``: one transaction, committed at the end (rolled back on an exception).
    """

    def __init__(self, db: SAEngine) -> None:
        self.db = db

    def __call__(self) -> Connection:
        conn: Connection = self.db.connect()
        return conn

    def begin(self) -> Any:
        """A context manager giving a connection in a transaction, committed when it ends."""
        return self.db.begin()


class LazySessions:
    """The engine database's ORM ``sessionmaker``, made (and SQLAlchemy's ORM imported) on first use."""

    def __init__(self, db: SAEngine) -> None:
        self.db = db
        self._maker: sessionmaker[Session] | None = None

    @property
    def maker(self) -> sessionmaker[Session]:
        """The ``sessionmaker`` (``expire_on_commit=False``)."""
        if self._maker is None:
            from sqlalchemy.orm import sessionmaker

            self._maker = sessionmaker(self.db, expire_on_commit=False)
        return self._maker

    def __call__(self, **kwargs: Any) -> Session:
        return self.maker(**kwargs)

    def begin(self) -> Any:
        """A context manager giving a session in a transaction, committed when it ends."""
        return self.maker.begin()


def connection_of(handle: Any) -> Connection:
    """The Core connection of a transaction handle: a connection itself, or an ORM session's."""
    conn: Connection = handle if hasattr(handle, "dialect") else handle.connection()
    return conn


def make_db(url: str, *, runs: int = 4, **kwargs: Any) -> tuple[SAEngine, LazySessions]:
    """Create the SQLAlchemy engine for ``url`` and its (lazily made) ORM sessions.

    The connection pool holds enough for ``runs`` feeds at once (serve's pool), each with its
    lease keeper, without waiting.

    SQLite files get WAL, ``synchronous=NORMAL``, foreign keys and a busy
    timeout, so separate processes (scheduler, CLI, workers) can share one file.
    JSON columns are written by :func:`engine.store.jsontext.dumps`.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    scratch = None
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        if _in_memory(url):
            scratch = _scratch_file()
            url = f"sqlite:///{scratch}"
    kwargs.setdefault("json_serializer", jsontext.dumps)
    # A database error's message quotes the statement, never its values (customer data, thousands of
    # rows' worth) into logs, executions and notifications.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_pre_ping", True)  # a connection the server dropped is replaced, not handed out
    db = create_engine(url, **kwargs)
    if runs > 4 and isinstance(db.pool, QueuePool):  # the default 5 + 10 serves four runs and their keepers
        db = create_engine(url, **kwargs, pool_size=runs + 1, max_overflow=2 * runs)  # (no connection made yet)
    if scratch is not None:
        _scratch[db] = weakref.finalize(db, _remove, scratch, os.getpid())
    if db.dialect.name == "sqlite":
        event.listen(db, "connect", _sqlite_pragmas)
        event.listen(db, "begin", _sqlite_begin_immediate)
    return db, LazySessions(db)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is off; BEGIN is issued in _sqlite_begin_immediate.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN so two processes never deadlock upgrading read locks. A connection
    # marked ``read_only`` (reading(): it never writes) begins a plain read, which WAL never makes wait.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")


def reading(db: SAEngine) -> Transactions:
    """Connections for reads only: on SQLite they do not queue for the write lock another process holds."""
    return Transactions(db.execution_options(read_only=True))


# -- a database "in memory" ----------------------------------------------------------------------
# SQLite's own in-memory database belongs to one connection, and so to one thread: every other
# thread (serve's workers, a run's lease keeper, a host's threads) would see an empty database of
# its own. ``sqlite://`` and ``sqlite:///:memory:`` are therefore a scratch file instead, private to
# the engine and removed when it is disposed (``discard``) or collected: the same throwaway
# database, shared by every connection as a file is.

_scratch: weakref.WeakKeyDictionary[Any, weakref.finalize] = weakref.WeakKeyDictionary()


def _in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _scratch_file() -> str:
    fd, path = tempfile.mkstemp(prefix="connect-engine-", suffix=".db")
    os.close(fd)
    return path


def _remove(path: str, owner: int) -> None:
    if os.getpid() != owner:  # a forked child exiting (a pre-fork worker) leaves its parent's database alone
        return
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        with contextlib.suppress(OSError):
            os.unlink(name)


def discard(db: SAEngine) -> None:
    """Dispose of ``db``'s connections; an in-memory database's scratch file goes with them."""
    db.dispose()
    done = _scratch.pop(db, None)
    if done is not None:
        done()
