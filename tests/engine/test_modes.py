"""Test mode: the core refuses outbound feeds before any store connector exists; going live lets them run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.app import Engine
from engine.cli import cli
from tests.support import memstore
from tests.support.opsstore import Clock

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
SKUS = 20  # memstore's 10 products have 20 variants


@pytest.fixture
def engine(tmp_path: Path, db_url: str) -> Iterator[Engine]:
    cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 10}}})
    with memstore.build(cfg, clock=Clock(T0)) as eng:
        assert eng.run("import_products", "shop").status == "success"
        assert eng.run("import_stock", "shop").counts["created"] == SKUS
        memstore.CALLS.clear()
        yield eng
    memstore.CALLS.clear()


def store_writes(engine: Engine) -> list[dict[str, object]]:
    return memstore.load_state(engine.config.data_dir, "shop")["writes"]


def test_an_outbound_feed_is_skipped_in_test_mode_and_no_store_connector_is_even_made(engine: Engine) -> None:
    assert engine.mode("shop") == "test"
    plain = engine.run("export_stock", "shop")
    forced = engine.run("export_stock", "shop", force=True)  # --force does not get past test mode
    for info in (plain, forced):
        assert info.status == "skipped"
        assert "integration 'shop' is in test mode" in (info.message or "")
        assert "connect-engine integrations go-live shop" in (info.message or "")
        assert info.counts == dict.fromkeys(info.counts, 0)
    cli_run = CliRunner().invoke(cli, ["run", "export_stock", "--integration", "shop", "--force", "--json"],
                                 obj={"engine": engine})
    assert cli_run.exit_code == 0, cli_run.output
    assert json.loads(cli_run.stdout)["status"] == "skipped"

    assert memstore.CALLS == []  # never instantiated, never asked to write
    assert store_writes(engine) == []
    assert [e.status for e in engine.executions(feed="export_stock")] == ["skipped"] * 3
    engine.run("stock_check", "shop")  # the spy does see a feed that uses the store
    assert ("init", "shop") in memstore.CALLS


def test_after_going_live_the_outbound_feed_writes_and_back_in_test_mode_it_stops(engine: Engine) -> None:
    report = engine.go_live("shop", force=True, reason="tests")
    assert (report.before, report.mode, report.switched) == ("test", "live", True)
    memstore.CALLS.clear()

    pushed = engine.run("export_stock", "shop")
    assert (pushed.status, pushed.counts["read"], pushed.counts["updated"]) == ("success", SKUS, SKUS)
    assert [c for c in memstore.CALLS if c[0] == "write"] == [("write", "shop", "stock", SKUS)]
    assert {w["sku"]: w["quantity"] for w in store_writes(engine)}["P2-3"] == 5  # memstore's qty: id + variant

    memstore.CALLS.clear()
    again = engine.run("export_stock", "shop")  # what was pushed is remembered: nothing pushed twice
    assert (again.counts["read"], again.counts["unchanged"]) == (SKUS, SKUS)
    assert [c for c in memstore.CALLS if c[0] == "write"] == []

    engine.go_test("shop", reason="tests")
    memstore.CALLS.clear()
    assert engine.run("export_stock", "shop").status == "skipped"
    assert memstore.CALLS == []
    assert len(store_writes(engine)) == SKUS


def test_go_live_without_force_needs_the_stock_import_and_a_clean_check(engine: Engine) -> None:
    refused = engine.go_live("shop")
    assert (refused.mode, refused.switched) == ("test", False)
    assert [c.name for c in refused.failed] == ["a stock check is clean"]

    check = engine.run("stock_check", "shop")
    assert (check.status, check.counts["unchanged"]) == ("success", SKUS)
    live = engine.go_live("shop")
    assert (live.mode, live.switched, live.forced, live.failed) == ("live", True, False, [])
    assert engine.run("export_stock", "shop").status == "success"


def test_going_back_to_test_mode_stops_an_outbound_run_after_the_page_in_hand(
        tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shops = {"shop": {"settings": {"products": 10}, "feeds": {"export_stock": {"params": {"page_size": 4}}}}}
    eng = memstore.build(memstore.config(db_url, tmp_path / "data", shops))
    try:
        eng.run("import_products", "shop")
        eng.run("import_stock", "shop")
        eng.go_live("shop", force=True)
        original, writes = memstore.MemStore.write, []

        def write(self: Any, resource: str, records: Any, *, ctx: Any) -> Any:
            writes.append(len(records))
            out = original(self, resource, records, ctx=ctx)
            if len(writes) == 1:
                eng.go_test("shop", reason="stop everything")  # a person pulls the plug mid-run
            return out

        monkeypatch.setattr(memstore.MemStore, "write", write)
        info = eng.run("export_stock", "shop")
        assert writes == [4]  # the page in hand, then nothing more reached the store
        assert info.status == "interrupted" and "test mode" in (info.message or "")
    finally:
        eng.close()


def test_a_refused_push_whose_value_went_back_to_what_the_store_has_resolves_its_notification(
        tmp_path: Path, db_url: str) -> None:
    def build(**settings: Any) -> Engine:
        cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 10, **settings}}})
        return memstore.build(cfg, clock=Clock(T0))

    with build() as eng:
        assert eng.run("import_products", "shop").status == "success"
        assert eng.run("import_stock", "shop").status == "success"
        eng.go_live("shop", force=True, reason="tests")
        assert eng.run("export_stock", "shop").counts["updated"] == SKUS  # P2-3 pushed at 5
        eng.set_stock("P2-3", 9)
    with build(reject_skus=["P2-3"]) as eng:  # the store refuses the change
        refused = eng.run("export_stock", "shop")
        assert refused.counts["errors"] == 1
        [note] = eng.notifications()
        assert "store refused P2-3" in note.message
        eng.set_stock("P2-3", 5)  # back to what the store holds: nothing left to push
        settled = eng.run("export_stock", "shop")
        assert settled.status == "success" and settled.counts["errors"] == 0
        assert eng.notifications() == [], "the refused push's notification stayed open with nothing wrong"
    assert [w["quantity"] for w in store_writes_of(tmp_path) if w["sku"] == "P2-3"] == [5]  # pushed once


def store_writes_of(tmp_path: Path) -> list[dict[str, object]]:
    return memstore.load_state(tmp_path / "data", "shop")["writes"]
