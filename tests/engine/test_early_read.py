"""Reading a store -> hub feed from before its run starts (``Engine.read_early``, what the CLI's ``run`` does).

The reader is forked before the run takes the feed's lock, with the cursor and
mode the database holds then; the run takes its pages only if they are still
those it finds under the lock, and otherwise stops it and reads again. (That
a forked reader writes what an in-process run writes: tests/engine/test_readahead.py.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine import readahead
from engine.app import Engine
from engine.errors import ConfigError
from tests.support import memstore

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


def gone(pid: int) -> bool:
    """The reader ended and was reaped (not left a zombie or running)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


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
