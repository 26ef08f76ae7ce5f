"""A process killed in the middle of a feed: nothing committed is lost or doubled, and the run is not left open.

The feed runs in a real subprocess, the command line ``connect-engine run``
with the memstore and hub plugins (``python -m tests.support.memstore``), whose
store SIGKILLs its own process when the runner asks for page 4, i.e. once pages
1 to 3 are committed. The test process then sees the dead run's lease, lets it
expire on an injected clock, reaps the execution and runs the feed again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine import earlyfork, readahead
from engine.errors import LockedError
from engine.store.models import Lock
from plugins.connect.models import Product
from tests.support import memstore
from tests.support.observers import Recorder
from tests.support.opsstore import Clock

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS, PAGE, CRASH_AFTER, LEASE = 40, 5, 3, 300
READ_AHEAD_PAGE = 2  # 20 pages: the first says 19 more are coming, so the reader is forked


def variants(upto: int, start: int = 1) -> int:
    return sum(i % 3 + 1 for i in range(start, upto + 1))


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC times."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_in_subprocess(config: Path, *, own_group: bool = False) -> subprocess.CompletedProcess[str]:
    """``connect-engine run import_products`` of the memstore integration, as a process (a group of its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "tests.support.memstore", "--config", str(config), "run",
                           "import_products", "--integration", "shop", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, start_new_session=own_group)


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
def test_a_run_killed_mid_feed_resumes_after_the_last_committed_page(tmp_path: Path, db_url: str,
                                                                     read_ahead: bool) -> None:
    page = READ_AHEAD_PAGE if read_ahead else PAGE  # pages enough for the reader to be forked
    scheduler = {"scheduler": {"lock_lease_seconds": LEASE}, "read_ahead": read_ahead}
    # In-process, the kill comes once page `crash` is committed. With read-ahead the reader runs up to
    # `ahead` pages in front of the writer: when it asks for page crash + 1, the writer has committed at
    # least page crash - ahead and at most page crash. On SQLite the reader is forked before the
    # command starts (engine.earlyfork) and may read further ahead than one forked by the run.
    ahead = (earlyfork.AHEAD if db_url.startswith("sqlite") else readahead.AHEAD) if read_ahead else 0
    crash = CRASH_AFTER + ahead
    products = max(PRODUCTS, page * (crash + 10))
    settings = {"products": products, "page_size": page}
    crashing = memstore.write_config(tmp_path / "engine.yaml", db_url, tmp_path / "data",
                                     {"shop": {"settings": {**settings, "crash_after_page": crash}}}, **scheduler)
    started = datetime.now(UTC).replace(microsecond=0)
    proc = run_in_subprocess(crashing)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout == ""  # it never got to print an execution

    clock = Clock(datetime.now(UTC))
    healthy = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": settings}}, **scheduler)
    recorder = Recorder()
    with memstore.build(healthy, clock=clock, extra=[recorder]) as engine:
        [dead] = engine.executions(feed="import_products")
        assert dead.status == "running" and dead.finished_at is None
        with engine.sessions() as s:
            stored = s.scalar(select(func.count()).select_from(Product))
        pages = range(crash - ahead, crash + 1)
        [done] = [n for n in pages if stored == variants(page * n)]
        committed = {"seq": 0, "after": page * done}

        # The dead process still holds the lease: nobody else runs the feed, nothing is reaped yet.
        assert engine.reap() == []
        with pytest.raises(LockedError, match=rf"already running .*execution {dead.id}"):
            engine.run("import_products", "shop")

        with engine.sessions() as s:
            lease = s.scalars(select(Lock)).one()
        assert lease.execution_id == dead.id
        assert started + timedelta(seconds=LEASE) <= as_utc(lease.lease_until)
        clock.now = as_utc(lease.lease_until) + timedelta(seconds=1)
        [reaped] = engine.reap()
        assert (reaped.id, reaped.status) == (dead.id, "failed")
        assert reaped.finished_at == clock.now
        assert "stopped without finishing it (killed or crashed)" in (reaped.message or "")
        assert "resumes from the last committed page" in (reaped.message or "")
        assert reaped.cursor_after == committed
        assert reaped.counts["read"] == page * done  # what its committed pages did
        assert reaped.counts["created"] == variants(page * done)
        assert [(e.id, e.status) for e in recorder.executions] == [(dead.id, "failed")]  # observers hear of it
        assert engine.reap() == []

        again = engine.run("import_products", "shop")
        assert again.status == "success" and again.cursor_before == committed
        rest = variants(products, start=page * done + 1)
        assert again.counts == {"read": products - page * done, "created": rest, "updated": 0,
                                "unchanged": 0, "info": 0, "parked": 0, "errors": 0}
        with engine.sessions() as s:
            skus = list(s.scalars(select(Product.sku)))
        assert len(skus) == len(set(skus)) == variants(products)
        assert {sku.split("-")[0] for sku in skus} == {f"P{i}" for i in range(1, products + 1)}
        assert [e.status for e in engine.executions(feed="import_products")] == ["success", "failed"]

