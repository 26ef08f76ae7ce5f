"""Observer plugins: told about every execution and every notification, and never able to fail a feed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from tests.support import memstore
from tests.support.observers import Raiser, Recorder
from tests.support.opsstore import Clock

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
SHOPS = {"shop": {"settings": {"products": 4, "orders": 24}},
         "down": {"settings": {"products": 4, "fail_read": True}}}


def build(tmp_path: Path, db_url: str, *observers: Any, clock: Clock | None = None) -> Engine:
    cfg = memstore.config(db_url, tmp_path / "data", SHOPS)
    return memstore.build(cfg, clock=clock or Clock(T0), extra=observers)


def test_an_observer_that_raises_never_fails_a_feed(tmp_path: Path, db_url: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    raiser, recorder = Raiser(), Recorder()
    with build(tmp_path, db_url, raiser, recorder) as engine, caplog.at_level(logging.ERROR, "engine.plugins"):
        run = engine.run("import_orders", "shop")
        assert (run.status, run.counts["created"], run.counts["errors"]) == ("partial", 11, 1)
        assert engine.run("import_products", "shop").status == "success"
        assert raiser.calls == 3  # two executions, one notification: each raised
    assert len(recorder.executions) == 2 and len(recorder.notifications) == 1  # the others are still told
    logged = [r.getMessage() for r in caplog.records]
    assert "observer execution_finished of plugin 'raising-observer' raised; ignored" in logged
    assert "observer notification_raised of plugin 'raising-observer' raised; ignored" in logged
    assert "chat server unreachable" in caplog.text  # with its traceback


def test_a_recording_observer_is_told_every_execution_and_every_notification(tmp_path: Path, db_url: str) -> None:
    recorder, clock = Recorder(), Clock(T0)
    with build(tmp_path, db_url, recorder, clock=clock) as engine:
        engine.run("import_products", "shop")  # success
        engine.run("import_orders", "shop")  # partial: the bell rings for order 22
        engine.run("export_stock", "shop")  # skipped: test mode
        engine.run("import_orders", "down")  # failed: the bell rings for the run
        memstore.edit(engine.config.data_dir, "shop", "orders", 22, note="again")
        engine.run("import_orders", "shop")  # the same cause rings again
        clock.advance(hours=2)
        engine.recheck("import_orders", "shop")  # the parked orders, re-checked

        everything = engine.executions()
        assert [e.id for e in recorder.executions] == sorted(e.id for e in everything)
        assert [(e.feed, e.integration, e.trigger, e.status) for e in recorder.executions] == [
            ("import_products", "shop", "manual", "success"), ("import_orders", "shop", "manual", "partial"),
            ("export_stock", "shop", "manual", "skipped"), ("import_orders", "down", "manual", "failed"),
            ("import_orders", "shop", "manual", "partial"), ("import_orders", "shop", "retry", "success")]
        assert recorder.executions[2].message == everything[3].message  # the reason it was skipped
        assert [e.counts for e in recorder.executions] == [e.counts for e in reversed(everything)]

        bells = {n.id: n for n in engine.notifications()}
        assert [(n.id, n.record_key, n.count) for n in recorder.notifications] == [
            (min(bells), "22", 1), (max(bells), None, 1), (min(bells), "22", 2)]
        assert "503 Service Unavailable" in recorder.notifications[1].message
