"""SQLite: a page that outlasts the lease still commits with a fresh lease, so no second worker takes the feed.

On SQLite a page's transaction holds the database's write lock, and the run's lease
keeper (engine.leasekeeper) waits behind it. The page therefore renews the lease itself,
inside its transaction. On PostgreSQL the keeper renews beside the page (row locks).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import plugins.connect.connector as hub
from engine.errors import LockedError
from tests.support import memstore
from tests.support.opsstore import Clock

WAIT = 60  # seconds: a bound on the waits below, never a delay


def test_a_page_longer_than_the_lease_keeps_the_feed(tmp_path: Path, db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock")
    from datetime import UTC, datetime

    clock = Clock(datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    inside, release = threading.Event(), threading.Event()
    write = hub.HubConnector.write
    calls = []

    def slow_write(self: Any, resource: str, records: Any, *, ctx: Any) -> Any:
        calls.append(resource)
        if len(calls) == 1:
            from sqlalchemy import text

            ctx.session.execute(text("SELECT 1"))  # the page's transaction has begun (and holds the lock)
            inside.set()
            assert release.wait(WAIT)
        return write(self, resource, records, ctx=ctx)

    monkeypatch.setattr(hub.HubConnector, "write", slow_write)
    # The first run then reads its next page slowly (outside any transaction): a second worker waiting for
    # the database gets it there, and finds the lease either fresh or run out.
    between, resume = threading.Event(), threading.Event()
    read = memstore.MemStore.read
    reads = []

    def slow_read(self: Any, resource: str, *, cursor: Any, ctx: Any) -> Any:
        reads.append(resource)
        for n, page in enumerate(read(self, resource, cursor=cursor, ctx=ctx)):
            if n == 1 and len(reads) == 1:
                between.set()
                assert resume.wait(WAIT)
            yield page

    monkeypatch.setattr(memstore.MemStore, "read", slow_read)
    cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 12, "page_size": 4}}},
                          scheduler={"lock_lease_seconds": 60})
    with memstore.build(cfg, clock=clock) as first, memstore.build(cfg, clock=clock) as second:
        out: dict[str, Any] = {}
        a = threading.Thread(target=lambda: out.setdefault("a", first.run("import_products", "shop")))
        a.start()
        assert inside.wait(WAIT)
        clock.advance(seconds=61)  # the page outlasts the lease it started with

        def other() -> None:  # a second worker (cron's run --due) starts the feed meanwhile
            try:
                out["b"] = second.run("import_products", "shop")
            except LockedError as exc:
                out["b"] = exc

        b = threading.Thread(target=other)
        b.start()
        release.set()  # page 1 commits; the first run goes on to read page 2 slowly
        assert between.wait(WAIT)
        b.join(WAIT)  # the second worker got the database meanwhile
        resume.set()
        a.join(WAIT)
        assert out["a"].status == "success", out["a"].message
        assert isinstance(out["b"], LockedError), f"a second worker ran the feed beside the first: {out['b']}"
        assert calls.count("products") == 3  # each of the three pages written once, by the first run
