"""The engine's database connections: an in-memory database for every thread, dropped connections, quiet errors."""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import memstore


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_shared_by_threads_and_gone_after_close(tmp_path: Path, url: str) -> None:
    engine = memstore.build(memstore.config(url, tmp_path / "data", {"shop": {"settings": {"products": 3}}}))
    with engine:
        assert engine.run("import_products", "shop").status == "success"
        seen: list[Any] = []

        def elsewhere() -> None:  # serve's workers, a run's lease keeper and a host's threads are other threads
            try:
                seen.append(len(engine.hub_list("products")))
                seen.append(engine.run("import_products", "shop").status)
            except Exception as exc:  # the assertion below shows it
                seen.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert seen[0] == len(engine.hub_list("products")) > 0, seen
        assert seen[1] == "success", seen
        scratch = engine.db.url.database
        assert scratch and os.path.exists(scratch)
    assert not [p for p in (scratch, scratch + "-wal", scratch + "-shm") if os.path.exists(p)]


def test_a_forked_child_that_exits_leaves_the_in_memory_database_alone(tmp_path: Path) -> None:
    engine = memstore.build(memstore.config("sqlite://", tmp_path / "data", {"shop": {"settings": {"products": 2}}}))
    with engine:
        scratch = engine.db.url.database
        pid = os.fork()
        if pid == 0:  # a pre-fork worker or a daemonising host: its interpreter's exit runs the atexit hooks
            try:
                atexit._run_exitfuncs()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert scratch and os.path.exists(scratch)
        assert engine.run("import_products", "shop").status == "success"


def test_a_postgresql_connection_the_server_dropped_is_replaced_not_used(tmp_path: Path, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's pooled connections")
    from sqlalchemy import create_engine, text

    engine = memstore.build(memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 3}}}))
    with engine:
        with engine.db.connect() as conn:  # goes back to the pool afterwards, as every session's does
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        killer = create_engine(engine.db.url)
        with killer.connect() as conn:  # what a server restart or an idle-connection reaper does
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        killer.dispose()
        info = engine.run("import_products", "shop")
        assert info.status == "success", info.message


def test_a_database_error_quotes_the_statement_not_the_values(tmp_path: Path, db_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = memstore.build(memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 1}}}))
    with engine, engine.sessions() as s:
        with pytest.raises(DBAPIError) as info:
            s.execute(text("INSERT INTO no_such_table (a) VALUES (:secret)"), {"secret": "ann@example.com"})
        assert "ann@example.com" not in str(info.value)


def test_the_pool_holds_a_connection_per_run_and_keeper_for_a_large_serve_pool(tmp_path: Path, db_url: str) -> None:
    cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 1}}},
                          scheduler={"pool_size": 16})
    with memstore.build(cfg) as engine:
        assert engine.db.pool.size() >= 17 and engine.db.pool._max_overflow >= 16  # type: ignore[attr-defined]
