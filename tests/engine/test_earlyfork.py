"""``connect-engine run FEED`` forks its store reader before it loads SQLAlchemy (engine.earlyfork).

The reader loads the configuration itself and reads the feed's cursor, last run and
mode from the SQLite file; the run takes its pages only if the reader loaded the
same files and database, and (as for any early reader, tests/engine/test_early_read.py)
only if the lock finds the same cursor, mode and last run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine import earlyfork, readahead
from engine.app import Engine
from engine.store import journal, locks
from engine.store.models import Cursor, IntegrationState, Lock
from tests.support import memstore
from tests.support.procs import gone

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS, PAGE = 25, 3  # 9 pages
FEED = "import_products"


@pytest.fixture(autouse=True)
def _forking_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A test session may keep idle server threads that a forked reader never touches (test_early_read.py).
    monkeypatch.setattr(readahead, "available", lambda: True)


def write(tmp_path: Path, db_url: str, shop: dict[str, Any] | None = None, **engine: Any) -> Path:
    shop = {"settings": {"products": PRODUCTS, "page_size": PAGE}, **(shop or {})}
    return memstore.write_config(tmp_path / "engine.yaml", db_url, tmp_path / "data", {"shop": shop}, **engine)


def fork(path: Path, feed: str = FEED, *, force: bool = False) -> earlyfork.Forked:
    forked = earlyfork.fork(str(path), "shop", feed, force=force, plugins=memstore.plugin_list())
    assert forked is not None
    return forked


def said_something(forked: earlyfork.Forked) -> None:
    """Wait until the reader has loaded and said what it reads with (its first word is not taken)."""
    assert forked._spawned is not None
    assert forked._spawned[1].poll(30)


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


def test_a_run_takes_the_pages_read_before_the_command_loaded(tmp_path: Path, sqlite: str) -> None:
    path = write(tmp_path, sqlite)
    forked = fork(path)
    with memstore.build(path) as engine:
        early = forked.take(engine)
        assert early is not None and early.cursor is None and early.mode == "test" and early.last is None
        info = engine.run(FEED, "shop", read_ahead=True, early=early)
        assert early.taken and gone(early.pid)
        assert info.status == "success" and info.counts["read"] == PRODUCTS
        assert info.counts["created"] == len(engine.hub_list("products"))

        again = fork(path)  # the next run's reader reads from the cursor the first one saved
        early = again.take(engine)
        assert early is not None and early.cursor == info.cursor_after and early.last is not None
        nothing = engine.run(FEED, "shop", read_ahead=True, early=early)
        assert early.taken and nothing.counts["read"] == 0 and nothing.cursor_before == info.cursor_after


def test_a_configuration_changed_while_the_command_loaded_is_read_again(
        tmp_path: Path, sqlite: str, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, sqlite)
    forked = fork(path)
    said_something(forked)  # it has loaded the file as it was
    doc = json.loads(path.read_text())
    doc["integrations"]["shop"]["settings"]["page_size"] = PAGE + 1
    path.write_text(json.dumps(doc))
    with memstore.build(path) as engine, caplog.at_level(logging.INFO, logger="engine.earlyfork"):
        pid = forked._spawned[0] if forked._spawned else 0
        assert forked.take(engine) is None
        assert gone(pid)
        assert f"configuration file(s) changed while the command started ({path})" in caplog.text
        info = engine.run(FEED, "shop")
    assert info.counts["read"] == PRODUCTS


def test_a_reader_that_loaded_other_files_or_another_database_is_not_taken(tmp_path: Path, sqlite: str) -> None:
    path = write(tmp_path, sqlite)
    with memstore.build(path) as engine:
        from engine import yamlio

        files = {p: d for p, d in yamlio.files_read().items() if p == str(path)}
        database = str(tmp_path / "hub.db")
        assert earlyfork._differs({"files": files, "database": database}, engine) is None
        assert "changed" in (earlyfork._differs({"files": {str(path): b"other"}, "database": database}, engine) or "")
        assert "another database file" in (earlyfork._differs({"files": files, "database": database + "x"}, engine)
                                           or "")


def test_pages_read_with_a_cursor_another_run_has_moved_are_read_again(tmp_path: Path, sqlite: str) -> None:
    path = write(tmp_path, sqlite)
    forked = fork(path)
    said_something(forked)  # the guess is made: no cursor yet
    with memstore.build(path) as other:
        first = other.run(FEED, "shop")  # another run of the feed moves the cursor meanwhile
    with memstore.build(path) as engine:
        early = forked.take(engine)
        assert early is not None and early.cursor is None
        info = engine.run(FEED, "shop", read_ahead=True, early=early)
        assert not early.taken and gone(early.pid)
    assert info.status == "success" and info.cursor_before == first.cursor_after
    assert info.counts["read"] == 0  # read again from the cursor the run found


@pytest.mark.parametrize(("feed", "shop", "engine_settings", "why"), [
    ("stock_check", None, {}, "a check compares as it reads"),
    ("export_stock", None, {}, "the feed does not read a store into the hub"),
    (FEED, {"feeds": {FEED: {"enabled": False}}}, {}, "the feed is disabled"),
    ("no_such_feed", None, {}, "no such feed"),
])
def test_the_reader_ends_at_once_where_it_does_not_apply(tmp_path: Path, sqlite: str, feed: str,
                                                         shop: dict[str, Any] | None, engine_settings: dict[str, Any],
                                                         why: str, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, sqlite, shop, **engine_settings)
    forked = fork(path, feed)
    pid = forked._spawned[0] if forked._spawned else 0
    with memstore.build(path) as engine, caplog.at_level(logging.INFO, logger="engine.earlyfork"):
        assert forked.take(engine) is None
    assert gone(pid) and f"the store is read after start-up: {why}" in caplog.text
    forked.cancel()  # nothing left to do


def test_a_feed_another_process_runs_is_not_read_for_a_run_that_will_be_refused(
        tmp_path: Path, sqlite: str, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, sqlite)
    with memstore.build(path) as engine:
        now = engine.clock()
        with engine.sessions.begin() as s:  # another run's lease on the feed
            locks.acquire(s, "shop", FEED, holder="other-host:4242", lease=timedelta(minutes=5), now=now)
        forked = fork(path)
        pid = forked._spawned[0] if forked._spawned else 0
        with caplog.at_level(logging.INFO, logger="engine.earlyfork"):
            assert forked.take(engine) is None
        assert gone(pid) and "the store is read after start-up: the feed is running in another process" in caplog.text
        with engine.sessions.begin() as s:  # the lease ran out: the next command reads early again
            s.execute(update(Lock).values(lease_until=now - timedelta(seconds=1)))
        again = fork(path).take(engine)
        assert again is not None
        again.cancel()
        with engine.sessions.begin() as s:
            locks.release(s, "shop", FEED, holder="other-host:4242")
        assert not earlyfork.leased(str(tmp_path / "hub.db"), "shop", FEED, now)
        assert not earlyfork.leased(str(tmp_path / "missing.db"), "shop", FEED, now)


def test_a_run_once_feed_that_ran_is_not_read_unless_forced(tmp_path: Path, sqlite: str) -> None:
    path = write(tmp_path, sqlite)
    with memstore.build(path) as engine:
        assert engine.run("import_stock", "shop").status == "success"
        assert fork(path, "import_stock").take(engine) is None
        forced = fork(path, "import_stock", force=True).take(engine)
        assert forced is not None and forced.last is not None and forced.last[2] is not None
        forced.cancel()


@pytest.mark.parametrize(("engine_settings", "database"), [
    ({"read_ahead": False}, None),
    ({}, "postgresql://connect@db.invalid/hub"),
])
def test_no_reader_is_forked_where_engine_yaml_says_it_cannot_apply(
        tmp_path: Path, engine_settings: dict[str, Any], database: str | None) -> None:
    # A cheap look at engine.yaml: the reader would load the whole configuration only to say so.
    path = write(tmp_path, database or f"sqlite:///{tmp_path / 'hub.db'}", **engine_settings)
    assert earlyfork.fork(str(path), "shop", FEED, plugins=memstore.plugin_list()) is None
    assert earlyfork.fork(str(tmp_path / "missing.yaml"), "shop", FEED) is None  # the command reports it


def test_a_database_url_from_the_environment_is_resolved_by_the_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE", f"sqlite:///{tmp_path / 'hub.db'}")
    path = write(tmp_path, "${HUB_DATABASE}")
    forked = fork(path)
    with memstore.build(path) as engine:
        early = forked.take(engine)
        assert early is not None
        assert engine.run(FEED, "shop", read_ahead=True, early=early).counts["read"] == PRODUCTS
        assert early.taken


def test_a_reader_that_cannot_start_leaves_the_errors_to_the_command(tmp_path: Path, sqlite: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = {"products": PRODUCTS, "page_size": PAGE, "api_token": "${EARLY_TOKEN}"}
    path = write(tmp_path, sqlite, {"settings": settings})
    forked = fork(path)  # its environment lacks the token: the command reports that itself
    with memstore.build(path, env={"EARLY_TOKEN": "t"}) as engine, \
            caplog.at_level(logging.INFO, logger="engine.earlyfork"):
        assert forked.take(engine) is None
    assert "the reader could not start (1 configuration problem(s))" in caplog.text


@pytest.fixture
def states(tmp_path: Path, sqlite: str) -> Iterator[tuple[Path, Engine]]:
    path = write(tmp_path, sqlite)
    with memstore.build(path) as engine:
        yield path, engine


def engine_guess(engine: Engine, feed: str) -> tuple[Any, str | None, Any]:
    with engine.sessions() as s:
        state = s.get(IntegrationState, "shop")
        return (journal.load_cursor(s, "shop", feed), state.mode if state is not None else None,
                journal.last_run(s, "shop", feed))


def test_the_guess_is_what_the_engine_reads_from_the_same_rows(states: tuple[Path, Engine], tmp_path: Path) -> None:
    _, engine = states
    database = str(tmp_path / "hub.db")
    assert earlyfork.guess(str(tmp_path / "none.db"), "shop", FEED, incremental=True) == (None, None, None)
    assert earlyfork.guess(database, "shop", FEED, incremental=True) == engine_guess(engine, FEED)  # no rows yet
    engine.run(FEED, "shop")
    assert earlyfork.guess(database, "shop", FEED, incremental=True) == engine_guess(engine, FEED)
    assert earlyfork.guess(database, "shop", FEED, incremental=True)[0] is not None
    assert earlyfork.guess(database, "shop", FEED, incremental=False)[0] is None  # a feed without a cursor reads none
    engine.go_live("shop", force=True, reason="test")
    engine.run("import_stock", "shop")
    for feed in (FEED, "import_stock"):
        found = earlyfork.guess(database, "shop", feed, incremental=True)
        assert found == engine_guess(engine, feed) and found[1] == "live"
    assert earlyfork.guess(database, "shop", "import_stock", incremental=True)[2][2] is not None  # ran once


def test_a_database_without_the_tables_guesses_nothing(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "empty.db"
    sqlite3.connect(database).close()
    assert earlyfork.guess(str(database), "shop", FEED, incremental=True) == (None, None, None)


@pytest.mark.parametrize(("url", "path"), [
    ("sqlite:///var/connect.db", "{root}/var/connect.db"),
    ("sqlite:////abs/engine.db", "/abs/engine.db"),
    ("sqlite+pysqlite:///./here.db", "{root}/here.db"),
    ("sqlite:///:memory:", None),
    ("sqlite://", None),
    ("sqlite:///file:x.db?mode=ro&uri=true", None),
    ("sqlite:///x.db?timeout=3", None),
    ("sqlite:///a%20b.db", None),
    ("postgresql://u@h/db", None),
])
def test_only_a_plain_sqlite_file_url_is_read_by_the_reader(tmp_path: Path, url: str, path: str | None) -> None:
    found = earlyfork.sqlite_file(url, tmp_path)
    assert found == (None if path is None else str(Path(path.format(root=tmp_path))))
    if found is not None:  # the file SQLAlchemy opens for the same URL, as engine.yaml resolves it
        from sqlalchemy.engine import make_url

        resolved = make_url(url)
        database = resolved.database or ""
        expected = database if Path(database).is_absolute() else str(tmp_path / database)
        assert found == expected


def test_the_reader_loads_no_sqlalchemy(tmp_path: Path, sqlite: str) -> None:
    path = write(tmp_path, sqlite)
    script = (
        "import json, sys\n"
        "from engine import earlyfork\n"
        "from tests.support import memstore\n"
        f"said, source, prepare = earlyfork._setup({str(path)!r}, 'shop', {FEED!r}, False, memstore.plugin_list())\n"
        "pages = [p for p in source if p is not None]\n"
        "prepared = [prepare(p.records) for p in pages]\n"
        "print(json.dumps({'sqlalchemy': sorted(m for m in sys.modules if m.startswith('sqlalchemy')),\n"
        "                  'pages': len(pages), 'items': sum(len(p.items) for p in prepared),\n"
        "                  'mode': said['mode']}))\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"sqlalchemy": [], "pages": 9, "items": PRODUCTS, "mode": "test"}


def test_the_command_reads_the_store_while_it_loads(tmp_path: Path, db_url: str) -> None:
    path = write(tmp_path, db_url)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.support.memstore", "--config", str(path), "--verbose",
                           "run", FEED, "--integration", "shop", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert info["status"] == "success" and info["counts"]["read"] == PRODUCTS
    assert "taking the pages read since before the run started" in proc.stderr
    if db_url.startswith("sqlite"):
        assert "the store has been read since before start-up" in proc.stderr
    else:  # forked once the command has loaded (engine.earlyread)
        assert "to read the store while this one starts" not in proc.stderr
        assert "reading ahead in process" in proc.stderr
    with memstore.build(path) as engine, engine.sessions() as s:
        assert s.scalar(select(Cursor.value)) == info["cursor_after"]
