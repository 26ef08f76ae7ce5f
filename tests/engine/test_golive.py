"""Modes and go-live: the checks, refusal with reasons, --force recorded, back to test, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.golive import STOCK_CLEAN, STOCK_IMPORTED
from tests.support import opsstore
from tests.support.opsstore import Clock, make_engine

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def build(tmp_path: Path, db_url: str, clock: Clock, **settings: Any) -> Any:
    return make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 3, **settings}}}, clock)


def checks(report: Any) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.detail) for c in report.checks}


def prepare(engine: Any, clock: Clock) -> None:
    """Import stock, then run a stock check after it."""
    assert engine.run("import_levels", "shop").status == "success"
    clock.advance(minutes=1)
    assert engine.run("check_stock", "shop").status == "success"
    clock.advance(minutes=1)


def test_a_fresh_integration_is_refused_with_the_reasons(tmp_path: Path, db_url: str, clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        assert engine.mode("shop") == "test"
        report = engine.go_live("shop")
        assert not report.switched and report.mode == "test"
        found = checks(report)
        assert found["credentials can write"] == (True, "write scope granted")
        assert found[STOCK_IMPORTED][0] is False
        assert "connect-engine run import_levels --integration shop" in found[STOCK_IMPORTED][1]
        assert found[STOCK_CLEAN][0] is False and "check_stock has not run" in found[STOCK_CLEAN][1]
        assert [c.name for c in report.failed] == [STOCK_IMPORTED, STOCK_CLEAN]
        assert engine.mode("shop") == "test"
        assert [(h.from_mode, h.to_mode) for h in engine.mode_history("shop")] == [(None, "test")]


def test_going_live_after_import_and_a_clean_check_then_back_to_test(tmp_path: Path, db_url: str,
                                                                     clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        assert "export_levels" not in {i.feed for i in engine.due()}
        prepare(engine, clock)
        report = engine.go_live("shop", reason="launch day")
        assert report.switched and not report.forced and not report.failed
        assert engine.mode("shop") == "live"
        assert "export_levels" in {i.feed for i in engine.due()}
        assert engine.run("export_levels", "shop").status == "success"

        again = engine.go_live("shop")
        assert not again.switched and again.before == "live"

        clock.advance(hours=1)
        back = engine.go_test("shop", reason="store migration")
        assert back.switched and engine.mode("shop") == "test"
        assert engine.run("export_levels", "shop").status == "skipped"
        trail = engine.mode_history("shop")
        assert [(h.from_mode, h.to_mode, h.reason, h.forced) for h in trail] == [
            (None, "test", "initial mode from the configuration", False),
            ("test", "live", "launch day", False),
            ("live", "test", "store migration", False)]
        assert trail[1].at == datetime(2024, 5, 1, 10, 2, 5, tzinfo=UTC)
        assert trail[2].at == datetime(2024, 5, 1, 11, 2, 5, tzinfo=UTC)
        assert {c["name"]: c["ok"] for c in trail[1].checks} == {
            "credentials can write": True, STOCK_IMPORTED: True, STOCK_CLEAN: True}


def test_a_stock_check_with_mismatches_or_older_than_the_import_refuses(tmp_path: Path, db_url: str,
                                                                        clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        prepare(engine, clock)
        assert engine.run("import_levels", "shop", force=True).status == "success"  # imported again since
        found = checks(engine.go_live("shop"))
        assert found[STOCK_CLEAN][0] is False and "ran before the last stock import" in found[STOCK_CLEAN][1]

        clock.advance(minutes=1)
        opsstore.edit(engine.config.data_dir, "shop", 2, qty=99)  # the store sold some: the hub disagrees
        dirty = engine.run("check_stock", "shop")
        assert dirty.counts["errors"] == 1
        found = checks(engine.go_live("shop"))
        assert found[STOCK_CLEAN][0] is False
        assert f"execution {dirty.id} ended partial with 1 mismatch(es)" in found[STOCK_CLEAN][1]
        assert engine.mode("shop") == "test"


def test_force_switches_past_failed_checks_and_is_recorded(tmp_path: Path, db_url: str, clock: Clock) -> None:
    with build(tmp_path, db_url, clock, can_write=False) as engine:
        prepare(engine, clock)
        refused = engine.go_live("shop")
        assert [(c.name, c.detail) for c in refused.failed] == [("credentials can write", "the API key is read-only")]
        forced = engine.go_live("shop", force=True)
        assert forced.switched and forced.forced and engine.mode("shop") == "live"
        last = engine.mode_history("shop")[-1]
        assert last.forced and last.reason == "forced past failed checks: credentials can write"


def test_a_connector_check_that_raises_is_a_failed_check(tmp_path: Path, db_url: str, clock: Clock) -> None:
    with build(tmp_path, db_url, clock, checks_raise=True) as engine:
        found = checks(engine.go_live("shop"))
        assert found["credentials can write"] == (
            False, "AuthError: store answered 401 Unauthorized: invalid API key")


def test_checks_of_the_wrong_shape_are_a_failed_check_even_when_forced(tmp_path: Path, db_url: str,
                                                                        clock: Clock) -> None:
    with build(tmp_path, db_url, clock, checks_tuples=True) as engine:
        prepare(engine, clock)
        found = checks(engine.go_live("shop"))
        assert found["connector checks"] == (False, "connector 'opsstore' returned ('credentials can write', True, "
                                                    "'') from checks(); expected a list of engine.Check(name, ok, "
                                                    "detail)")
        assert engine.go_live("shop", force=True).switched
