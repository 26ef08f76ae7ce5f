"""Database engine and session factory for a configured URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.orm import Session, sessionmaker

from engine.store import jsontext


def make_db(url: str, **kwargs: Any) -> tuple[SAEngine, sessionmaker[Session]]:
    """Create the SQLAlchemy engine and its sessionmaker for ``url``.

    SQLite files get WAL, ``synchronous=NORMAL``, foreign keys and a busy
    timeout, so separate processes (scheduler, CLI, workers) can share one file.
    JSON columns are written by :func:`engine.store.jsontext.dumps`.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
    kwargs.setdefault("json_serializer", jsontext.dumps)
    db = create_engine(url, **kwargs)
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
    # Take the write lock at BEGIN so two processes never deadlock upgrading read locks.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
