"""The bell's occurrence count when two processes ring the same cause at once (PostgreSQL: row locks)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from engine.store import journal
from engine.store.db import make_db
from engine.store.tables import metadata, notifications

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _ring(conn: sa.Connection) -> None:
    journal.ring(conn, integration="shop", feed="import_orders", record_key="1001", record_label="#1001",
                 kind="unknown-carrier", message="no carrier", hint=None, details=None, now=NOW, execution_id=None)


def test_two_runs_ringing_one_cause_at_once_count_both(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite's database-wide write lock: the second ring waits for the first to commit")
    db, _ = make_db(db_url)
    try:
        metadata.create_all(db, tables=[notifications])
        with db.begin() as conn:
            _ring(conn)  # count 1
        first = db.connect()
        first.begin()
        _ring(first)  # count 2, not committed: the row stays locked
        second = threading.Thread(target=lambda: _ring_committed(db))
        second.start()  # reads count 1, then its UPDATE waits for the first transaction
        with db.connect() as watch:
            deadline = time.monotonic() + 30
            while not watch.execute(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar():
                assert time.monotonic() < deadline, "the second ring never waited for the first"
                watch.rollback()
        first.commit()
        first.close()
        second.join(timeout=30)
        with db.connect() as conn:
            assert conn.execute(sa.select(notifications.c.count)).scalar_one() == 3  # not 2: no ring is lost
    finally:
        db.dispose()


def _ring_committed(db: sa.Engine) -> None:
    with db.begin() as conn:
        _ring(conn)
