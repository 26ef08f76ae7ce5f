"""Database engine and session factory for a configured URL."""

from __future__ import annotations

import contextlib
import os
import tempfile
import weakref
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from engine.store import jsontext


def make_db(url: str, *, runs: int = 4, **kwargs: Any) -> tuple[SAEngine, sessionmaker[Session]]:
    """Create the SQLAlchemy engine and its sessionmaker for ``url``.

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
    return db, sessionmaker(db, expire_on_commit=False)


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


def reading(db: SAEngine) -> sessionmaker[Session]:
    """Sessions for reads only: on SQLite they do not queue for the write lock another process holds."""
    return sessionmaker(db.execution_options(read_only=True), expire_on_commit=False)


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
