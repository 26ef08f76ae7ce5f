"""A run in a thread (``serve``'s pool) reads the store in a reader the fork server starts (engine.spawnread).

Over real HTTP against the sandbox, on SQLite and PostgreSQL: the engine is built from an
engine.yaml file with the installed plugins, as ``serve`` builds it, and the run happens in a
worker thread, where forking the process is not safe.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import hubapi, readahead
from engine.app import Engine
from engine.store.records import ExecutionInfo
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import ROOT, SHOP, ShopApi
from tests.support.forked import ended

PRODUCTS = 80
PAGE_SIZE = 2  # 40 pages: the first says 39 more are coming, enough to start a reader
STARTED = "forked by the fork server"


@pytest.fixture
def sandbox() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(products=PRODUCTS, orders=0, seed=3, rate_limit=False) as sb:
        yield sb


@pytest.fixture
def engine_yaml(db_url: str, tmp_path: Path, sandbox: ShopifySandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    """engine.yaml on disk, its ${...} values in the environment, as serve loads it."""
    return write_engine_yaml(tmp_path, db_url, sandbox, monkeypatch)


def write_engine_yaml(tmp_path: Path, db_url: str, sandbox: ShopifySandbox, monkeypatch: pytest.MonkeyPatch,
                      only: str | None = None) -> Path:
    """engine.yaml with the repository's feeds (with ``only``, every other feed disabled)."""
    raw = copy.deepcopy(yaml.safe_load((ROOT / "engine.yaml").read_text(encoding="utf-8")))
    if only is not None:
        feeds = [p.stem for p in (ROOT / "feeds.d" / "shopify").glob("*.yaml")]
        raw["integrations"][SHOP]["feeds"] = {f: {"enabled": f == only} for f in feeds}
    raw.update(database=db_url, data_dir=str(tmp_path / "data"), feeds_dir=str(ROOT / "feeds.d"),
               mappings_dir=str(ROOT / "mappings"))
    raw["integrations"][SHOP]["settings"]["page_size"] = PAGE_SIZE
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setenv("SHOPIFY_SHOP_URL", sandbox.url)
    monkeypatch.setenv("SHOPIFY_TOKEN", sandbox.token)
    return path


def in_a_thread(run: Callable[[], ExecutionInfo]) -> ExecutionInfo:
    """Run ``run`` in a worker thread, as serve's pool does (forking this process is then not safe)."""
    with ThreadPoolExecutor(1, thread_name_prefix="connect-engine") as pool:
        return pool.submit(lambda: (assert_threads(), run())[1]).result()


def assert_threads() -> None:
    assert threading.active_count() > 1 and not readahead.available()


def readers(caplog: pytest.LogCaptureFixture) -> list[int]:
    """The pids of the readers the fork server started, from the run's log."""
    found = (re.search(r"in process (\d+) \(" + STARTED, r.getMessage()) for r in caplog.records)
    return [int(m.group(1)) for m in found if m]


def hub_skus(engine: Engine) -> dict[str, str]:
    rows = hubapi.hub_list(engine, "products", integration=SHOP, limit=10_000)
    return {row["sku"]: row["name"] for row in rows}


def test_a_run_in_a_thread_reads_ahead_in_a_reader_the_fork_server_started(
        engine_yaml: Path, sandbox: ShopifySandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.spawnread")
    with Engine.from_config(engine_yaml) as engine:
        assert engine.origin is not None
        totals: list[int | None] = []
        info = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True,
                                              progress=lambda counts, total: totals.append(total)))
        assert info.status == "success", info.message
        assert len(readers(caplog)) == 1 and all(ended(pid) for pid in readers(caplog))
        variants = ShopApi(sandbox).variants()
        assert info.counts["read"] == PRODUCTS and info.counts["created"] == len(variants)
        assert set(hub_skus(engine)) == set(variants)
        assert len(totals) == PRODUCTS // PAGE_SIZE and set(totals) == {PRODUCTS}  # every page, in order, once

        # A run started again from the committed cursor finds nothing new: the reader's cursors were saved.
        sandbox.edit_product(ShopApi(sandbox).products()[5]["id"], title="Renamed by the merchant")
        again = in_a_thread(lambda: engine.run("update_products", SHOP, read_ahead=True))
        assert again.status == "success" and again.counts["read"] == PRODUCTS  # update_products reads all, once
        assert sum(name.startswith("Renamed by the merchant") for name in hub_skus(engine).values()) >= 1


def test_configuration_changed_on_disk_since_the_engine_loaded_is_not_read_by_the_reader(
        engine_yaml: Path, sandbox: ShopifySandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.spawnread")
    with Engine.from_config(engine_yaml) as engine:
        engine_yaml.write_text(engine_yaml.read_text(encoding="utf-8") + "# edited while serve runs\n",
                               encoding="utf-8")
        info = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True))
        assert info.status == "success", info.message
        assert any("changed since the engine loaded" in r.getMessage() for r in caplog.records)
        assert len(readers(caplog)) == 1 and all(ended(pid) for pid in readers(caplog))  # stopped, not left
        assert set(hub_skus(engine)) == set(ShopApi(sandbox).variants())  # read in-process instead, whole


def test_an_error_in_the_reader_fails_the_run_with_its_class_and_keeps_the_pages_committed(
        engine_yaml: Path, sandbox: ShopifySandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.spawnread")
    pages: list[dict[str, int]] = []

    def revoke_after_the_first_page(counts: dict[str, int], total: int | None) -> None:
        pages.append(dict(counts))
        if len(pages) == 1:
            sandbox.set_faults(error_rate=1.0, error_status=401)  # the token stops working

    with Engine.from_config(engine_yaml) as engine:
        info = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True,
                                              progress=revoke_after_the_first_page))
        assert info.status == "failed" and info.message.startswith("AuthError"), info.message
        assert len(readers(caplog)) == 1 and all(ended(pid) for pid in readers(caplog))
        committed = hub_skus(engine)
        assert pages and len(committed) == pages[-1]["created"] > 0  # what was committed stays, nothing more
        sandbox.clear_faults()
        resumed = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True))
        assert resumed.status == "success" and set(hub_skus(engine)) == set(ShopApi(sandbox).variants())


def test_an_engine_a_reader_cannot_build_again_reads_in_its_own_process(
        engine_yaml: Path, sandbox: ShopifySandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.spawnread")
    raw: dict[str, Any] = yaml.safe_load(engine_yaml.read_text(encoding="utf-8"))
    env = {"SHOPIFY_SHOP_URL": sandbox.url, "SHOPIFY_TOKEN": sandbox.token}
    with Engine.from_config(raw, env=env) as engine:  # a dict and an environment of its own: a host's engine
        assert engine.origin is None
        info = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True))
        assert info.status == "success" and info.counts["read"] == PRODUCTS
        assert not any(STARTED in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("after", [1, 4])  # before the reader's pages are taken, and while they are
def test_a_run_stopped_after_a_page_stops_its_reader(
        after: int, engine_yaml: Path, sandbox: ShopifySandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="engine.spawnread")
    stop = threading.Event()
    with Engine.from_config(engine_yaml) as engine:
        pages: list[int] = []

        def progress(counts: dict[str, int], total: int | None) -> None:
            pages.append(counts["read"])
            if len(pages) == after:
                stop.set()

        info = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True, stop=stop,
                                              progress=progress))
        assert info.status == "interrupted" and info.counts["read"] == after * PAGE_SIZE
        assert len(readers(caplog)) == 1 and all(ended(pid) for pid in readers(caplog))
        resumed = in_a_thread(lambda: engine.run("import_new_products", SHOP, read_ahead=True))
        assert resumed.counts["read"] == PRODUCTS - after * PAGE_SIZE  # from the committed cursor
        assert set(hub_skus(engine)) == set(ShopApi(sandbox).variants())


def test_serve_runs_a_due_feed_with_a_reader_the_fork_server_started(
        db_url: str, tmp_path: Path, sandbox: ShopifySandbox, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from engine.serve import Server

    caplog.set_level(logging.INFO, logger="engine.spawnread")
    path = write_engine_yaml(tmp_path, db_url, sandbox, monkeypatch, only="update_products")
    results = []
    with Engine.from_config(path) as engine:
        assert Server(engine, pool_size=2, on_result=results.append).serve(once=True) == 0
        [result] = [r for r in results if r.item.feed == "update_products"]
        assert result.execution is not None and result.execution.status == "success", result.error
        assert result.execution.counts["read"] == PRODUCTS
        assert len(readers(caplog)) == 1 and all(ended(pid) for pid in readers(caplog))
        assert set(hub_skus(engine)) == set(ShopApi(sandbox).variants())


def test_serve_starts_the_fork_server_when_it_starts(engine_yaml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import spawnread
    from engine.serve import Server

    warmed = threading.Event()
    warm = spawnread.warm
    monkeypatch.setattr(spawnread, "warm", lambda: (warm(), warmed.set()))
    with Engine.from_config(engine_yaml) as engine:
        server = Server(engine, pool_size=1)
        loop = threading.Thread(target=server.serve)
        loop.start()
        try:
            assert warmed.wait(30)
            process = spawnread._fork_server()._process
            assert process is not None and process.poll() is None  # running before any run asked for a reader
        finally:
            server.request_stop()
            loop.join(60)
        assert not loop.is_alive()
