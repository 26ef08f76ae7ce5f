"""Reading a store -> hub feed from before its run starts (``Engine.read_early``, what the CLI's ``run`` does).

The reader is forked before the run takes the feed's lock, with the cursor and
mode the database holds then; the run takes its pages only if they are still
those it finds under the lock, and otherwise stops it and reads again. (That
a forked reader writes what an in-process run writes: tests/engine/test_readahead.py.)
"""

from __future__ import annotations

import os
import select
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from engine import hookimpl, readahead
from engine.app import Engine
from engine.errors import ConfigError, ConnectorError, LockedError
from engine.store import locks
from engine.store.models import Lock
from tests.support import memstore, procs
from tests.support.procs import gone

PRODUCTS, PAGE = 25, 3  # 9 pages


def build(db_url: str, tmp_path: Path, **engine: Any) -> Engine:
    return memstore.build(memstore.config(db_url, tmp_path / "data",
                                          {"shop": {"settings": {"products": PRODUCTS, "page_size": PAGE}}}, **engine))


@pytest.fixture(autouse=True)
def _forking_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner forks only in a process with one thread; a test session may keep idle server threads
    # (session-wide sandboxes) that a forked reader never touches, as the reader tests' own forks do not.
    monkeypatch.setattr(readahead, "available", lambda: True)


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    with build(db_url, tmp_path) as eng:
        yield eng


def test_a_run_takes_the_pages_read_before_it_started(engine: Engine) -> None:
    early = engine.read_early("import_products", "shop")
    assert early is not None and early.cursor is None and early.mode == "test"
    info = engine.run("import_products", "shop", read_ahead=True, early=early)
    assert early.taken and gone(early.pid)
    assert info.status == "success" and info.cursor_after == {"seq": 0, "after": PRODUCTS}
    assert info.counts["read"] == PRODUCTS and info.counts["created"] == len(engine.hub_list("products"))

    again = engine.read_early("import_products", "shop")
    assert again is not None and again.cursor == info.cursor_after  # the next run's guess is the saved cursor
    nothing = engine.run("import_products", "shop", read_ahead=True, early=again)
    assert again.taken and nothing.counts["read"] == 0 and nothing.cursor_before == info.cursor_after


def test_pages_read_with_a_cursor_the_run_no_longer_has_are_read_again(engine: Engine) -> None:
    early = engine.read_early("import_products", "shop")
    assert early is not None and early.cursor is None
    first = engine.run("import_products", "shop")  # another run moved the cursor meanwhile
    info = engine.run("import_products", "shop", read_ahead=True, early=early)
    assert not early.taken and gone(early.pid)
    assert info.status == "success" and info.cursor_before == first.cursor_after
    assert info.counts["read"] == 0  # read from the cursor the run found, not from the start


def test_pages_read_in_another_mode_are_read_again(engine: Engine) -> None:
    early = engine.read_early("import_products", "shop")
    assert early is not None and early.mode == "test"
    engine.go_live("shop", force=True, reason="test")
    info = engine.run("import_products", "shop", read_ahead=True, early=early)
    assert not early.taken and gone(early.pid)
    assert info.status == "success" and info.counts["read"] == PRODUCTS


def test_a_run_that_does_not_start_stops_the_reader(engine: Engine) -> None:
    early = engine.read_early("import_products", "shop")
    assert early is not None
    early.cancel()
    assert gone(early.pid) and not early.taken
    early.cancel()  # again: nothing left to do
    with pytest.raises(RuntimeError, match="taken or cancelled"):
        early.pages()


@pytest.mark.parametrize(("feed", "why"), [
    ("export_stock", "hub -> store: nothing to read from the store"),
    ("stock_check", "a check: its run may be refused until its baseline exists"),
    ("no_such_feed", "unknown: the run says so"),
])
def test_no_early_reader_where_the_run_would_not_read_the_store_ahead(engine: Engine, feed: str, why: str) -> None:
    assert engine.read_early(feed, "shop") is None, why
    if feed == "no_such_feed":
        with pytest.raises(ConfigError, match="has no feed 'no_such_feed'"):
            engine.run(feed, "shop", read_ahead=True, early=None)


def test_no_early_reader_for_a_run_once_feed_that_ran(engine: Engine) -> None:
    early = engine.read_early("import_stock", "shop")
    assert early is not None  # it has not run yet
    assert engine.run("import_stock", "shop", read_ahead=True, early=early).status == "success"
    assert engine.read_early("import_stock", "shop") is None  # its run would be refused
    forced = engine.read_early("import_stock", "shop", force=True)
    assert forced is not None
    forced.cancel()


def test_no_early_reader_for_a_feed_another_process_runs(engine: Engine) -> None:
    """Its run will be refused as locked: nothing is read from the store for it (SQLite and PostgreSQL)."""
    now = engine.clock()
    with engine.sessions.begin() as s:
        locks.acquire(s, "shop", "import_products", holder="other-host:4242", lease=timedelta(minutes=5), now=now)
    assert engine.read_early("import_products", "shop") is None
    with pytest.raises(LockedError):
        engine.run("import_products", "shop", read_ahead=True, early=None)
    with engine.sessions.begin() as s:  # the other run's lease ran out: read early again
        s.execute(update(Lock).values(lease_until=now - timedelta(seconds=1)))
    early = engine.read_early("import_products", "shop")
    assert early is not None
    early.cancel()


def test_no_early_reader_for_a_disabled_feed_unless_forced(db_url: str, tmp_path: Path) -> None:
    doc = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": PRODUCTS, "page_size": PAGE},
                                                                "feeds": {"import_products": {"enabled": False}}}})
    with memstore.build(doc) as eng:
        assert eng.read_early("import_products", "shop") is None
        forced = eng.read_early("import_products", "shop", force=True)
        assert forced is not None
        info = eng.run("import_products", "shop", force=True, read_ahead=True, early=forced)
        assert forced.taken and info.counts["read"] == PRODUCTS


def test_read_ahead_off_means_no_early_reader(db_url: str, tmp_path: Path) -> None:
    with build(db_url, tmp_path, read_ahead=False) as eng:
        assert eng.read_early("import_products", "shop") is None


def test_a_new_database_is_read_early_before_its_schema_exists(second_db: str, tmp_path: Path) -> None:
    doc = memstore.config(second_db, tmp_path / "data",
                          {"shop": {"settings": {"products": PRODUCTS, "page_size": PAGE}}})
    eng = Engine.from_config(doc, plugins=memstore.plugin_list(), migrate=False)  # as the CLI's run builds it
    try:
        early = eng.read_early("import_products", "shop")
        assert early is not None and early.cursor is None and early.mode == "test"
        eng.upgrade()  # the database gets its tables while the reader reads
        info = eng.run("import_products", "shop", read_ahead=True, early=early)
        assert early.taken and info.status == "success" and info.counts["read"] == PRODUCTS
    finally:
        eng.close()


def test_pages_read_before_another_run_of_the_feed_committed_are_read_again(db_url: str, tmp_path: Path) -> None:
    # A feed without a cursor (a forced run-once stock import) cannot tell by its cursor that another run
    # wrote the hub after its pages were read: the pages are older than what that run wrote.
    data = tmp_path / "data"
    path = memstore.write_config(tmp_path / "engine.yaml", db_url, data,
                                 {"shop": {"settings": {"products": PRODUCTS, "page_size": PAGE}}})
    read_r, read_w = os.pipe()

    def first_page_read(_integration: str, resource: str, n: int) -> None:
        if resource == "stock" and n == 2:  # in the reader: page 1 was read (P1-1 among it)
            os.write(read_w, b"1")

    memstore.PAGE_HOOKS.append(first_page_read)
    try:
        with memstore.build(path) as eng:
            eng.run("import_products", "shop")
            early = eng.read_early("import_stock", "shop", force=True)
            assert early is not None
            assert select.select([read_r], [], [], procs.WAIT)[0] and os.read(read_r, 1) == b"1"
            variants = [{"id": 11, "sku": "P1-1", "barcode": "0000011", "grams": 100, "qty": 77},
                        {"id": 12, "sku": "P1-2", "barcode": "0000012", "grams": 200, "qty": 3}]
            memstore.edit(data, "shop", "products", 1, variants=variants)  # the store changes after that read
            other = subprocess.run([sys.executable, "-m", "tests.support.memstore", "--config", str(path), "run",
                                    "import_stock", "--integration", "shop", "--force"], cwd=procs.ROOT,
                                   env=procs.env(), capture_output=True, text=True, timeout=procs.WAIT)
            assert other.returncode == 0, other.stderr
            assert [s["quantity"] for s in eng.hub_list("stock", sku="P1-1")] == [77]  # the other run wrote it

            info = eng.run("import_stock", "shop", force=True, read_ahead=True, early=early)
            assert info.status == "success"
            assert [s["quantity"] for s in eng.hub_list("stock", sku="P1-1")] == [77]  # not the older 2
            assert not early.taken and gone(early.pid)
    finally:
        memstore.PAGE_HOOKS.remove(first_page_read)
        os.close(read_r)
        os.close(read_w)


class Unbuildable(memstore.MemStore):
    """A store whose connector cannot be built (a plugin checking its licence, say)."""

    name = "unbuildable"

    def __init__(self, integration: str, settings: Any, services: Any) -> None:
        super().__init__(integration, settings, services)
        raise ConnectorError("unbuildable: no licence for this shop")


class UnbuildablePlugin:
    @staticmethod
    @hookimpl
    def register_connectors() -> Any:
        return [Unbuildable]


@pytest.mark.parametrize("read_ahead", [True, False])
def test_a_store_that_cannot_be_built_fails_the_run_as_in_one_process(db_url: str, tmp_path: Path,
                                                                       read_ahead: bool) -> None:
    doc = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": PRODUCTS}}},
                          read_ahead=read_ahead)
    doc["integrations"]["shop"]["connector"] = "unbuildable"
    with memstore.build(doc, extra=[UnbuildablePlugin]) as eng:
        early = eng.read_early("import_products", "shop")  # the run says what is wrong, with its bell
        info = eng.run("import_products", "shop", read_ahead=True, early=early)
        assert early is None
        assert info.status == "failed" and info.message == "ConnectorError: unbuildable: no licence for this shop"
        assert [n.message for n in eng.notifications()] == [info.message]


def test_the_guess_does_not_wait_for_a_write_lock_another_process_holds(db_url: str, tmp_path: Path) -> None:
    # The guess only reads: on SQLite it must not queue for the write lock (BEGIN IMMEDIATE) that a long
    # write elsewhere holds, or the store is not read while the run waits, and a run that then gives up on
    # the lock does so one busy timeout later than it did without reading early.
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock")
    with build(db_url, tmp_path) as eng:
        first = eng.run("import_products", "shop")
        memstore.edit(tmp_path / "data", "shop", "products", 2, title="Renamed")
        writer = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # another process's long write (a migration, say)
        try:
            early = eng.read_early("import_products", "shop")
            assert early is not None and early.cursor == first.cursor_after  # read while the lock is held
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        info = eng.run("import_products", "shop", read_ahead=True, early=early)
        assert early.taken and info.status == "success" and info.counts["read"] == 1  # the renamed product
