"""Parked records: re-checked on the feed's retry schedule until they pass, expire or escalate; retry and drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.errors import EngineError
from engine.store.models import Event
from tests.support import opsstore
from tests.support.opsstore import Clock, make_engine

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
DAILY_ITEMS = {"import_levels": {"enabled": False}, "check_stock": {"enabled": False},
               "import_items": {"schedule": "0 0 * * *"}}  # scheduled runs stay out of the way of re-checks


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def build(tmp_path: Path, db_url: str, clock: Clock, feeds: dict[str, Any] | None = None) -> Any:
    integrations = {"shop": {"settings": {"items": 4}, "feeds": {**DAILY_ITEMS, **(feeds or {})}}}
    return make_engine(tmp_path, db_url, integrations, clock)


def events(engine: Any, key: str) -> list[tuple[str, str]]:
    with engine.sessions() as s:
        return [(e.severity, e.message) for e in s.scalars(select(Event).where(Event.record_key == key)
                                                           .order_by(Event.id))]


def test_a_parked_record_is_rechecked_hourly_and_written_once_it_passes(tmp_path: Path, db_url: str,
                                                                        clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
        [first] = engine.tick()
        assert first.execution is not None and first.execution.counts["parked"] == 1
        [parked] = engine.parked()
        assert (parked.record_key, parked.record_label, parked.reason, parked.attempts, parked.max_attempts) == (
            "2", "S2", "item S2 is pending", 1, 3)
        assert parked.next_check_at == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
        assert sorted(opsstore.hub_rows(engine.sessions)) == ["1", "3", "4"]

        clock.now = datetime(2024, 5, 1, 11, 0, 2, tzinfo=UTC)
        [still] = engine.tick()
        assert still.item.kind == "parked" and still.execution is not None
        assert still.execution.trigger == "retry" and still.execution.counts["parked"] == 1
        [parked] = engine.parked()
        assert parked.attempts == 2 and parked.next_check_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

        opsstore.edit(engine.config.data_dir, "shop", 2, status="ok")  # the payment came in
        clock.now = datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC)
        [passed] = engine.tick()
        assert passed.execution is not None and passed.execution.counts["created"] == 1
        assert engine.parked() == [] and engine.due() == []
        assert opsstore.hub_rows(engine.sessions)["2"]["status"] == "ok"
        assert opsstore.write_counts(engine.sessions)["2"] == 1
        assert "passed after 2 check(s)" in events(engine, "2")[-1][1]


def test_a_record_parked_past_its_expiry_is_given_up_as_info(tmp_path: Path, db_url: str, clock: Clock) -> None:
    daily = {"import_items": {"schedule": "0 0 * * *", "retry": {"schedule": "0 0 * * *", "expire_after": "2d"}}}
    with build(tmp_path, db_url, clock, daily) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
        engine.tick()
        clock.advance(days=3)
        results = engine.tick()  # the daily run and the re-check both see it: given up once
        assert sum(r.execution.counts["info"] for r in results if r.execution) == 1
        assert engine.parked() == [] and engine.notifications() == []
        assert "expired" in events(engine, "2")[-1][1] and events(engine, "2")[-1][0] == "info"


def test_a_record_failing_more_than_its_attempts_escalates_to_the_bell(tmp_path: Path, db_url: str,
                                                                       clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
        engine.tick()
        for hour in (11, 12, 13):  # max_attempts: 3 re-checks
            clock.now = datetime(2024, 5, 1, hour, 0, 1, tzinfo=UTC)
            assert [i.kind for i in engine.due()] == ["parked"]
            engine.tick()
        assert engine.parked() == []
        [bell] = engine.notifications()
        assert bell.record_label == "S2" and "still failing after 3 re-checks" in bell.message
        assert "item S2 is pending" in bell.message


def test_retry_now_and_drop_by_id(tmp_path: Path, db_url: str, clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        for item in (2, 3):
            opsstore.edit(engine.config.data_dir, "shop", item, status="pending")
        engine.tick()
        by_key = {p.record_key: p for p in engine.parked()}
        with pytest.raises(EngineError, match="no parked record with id 999"):
            engine.retry_parked([by_key["2"].id, 999])

        opsstore.edit(engine.config.data_dir, "shop", 2, status="ok")
        [result] = engine.retry_parked([by_key["2"].id])  # long before its next check
        assert result.execution is not None and result.execution.trigger == "manual"
        assert result.execution.counts == {**result.execution.counts, "read": 1, "created": 1, "parked": 0}
        assert [p.record_key for p in engine.parked()] == ["3"]

        [dropped] = engine.drop_parked([by_key["3"].id], reason="sold out for good")
        assert dropped.record_label == "S3"
        assert engine.parked() == []
        assert events(engine, "3")[-1] == (
            "info", "stopped re-checking record S3 after 1 check(s): sold out for good; it was parked because: "
                    "item S3 is pending")
        with pytest.raises(EngineError, match="no parked record"):
            engine.drop_parked([by_key["3"].id])


def test_a_parked_record_gone_from_the_store_is_no_longer_rechecked(tmp_path: Path, db_url: str,
                                                                    clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
        engine.tick()
        opsstore.remove(engine.config.data_dir, "shop", 2)
        [result] = engine.retry_parked()
        assert result.execution is not None and result.execution.counts["info"] == 1
        assert engine.parked() == []
        assert "no longer in the store" in events(engine, "2")[-1][1]


def test_parked_records_of_an_outbound_feed_wait_while_the_integration_is_in_test_mode(
        tmp_path: Path, db_url: str, clock: Clock) -> None:
    with build(tmp_path, db_url, clock) as engine:
        from engine.store.models import Parked

        with engine.sessions.begin() as s:
            s.add(Parked(integration="shop", feed="export_levels", record_key="S1", reason="store busy",
                         attempts=1, parked_at=T0, last_checked_at=T0, next_check_at=T0,
                         expires_at=T0 + timedelta(days=1)))
        assert [i for i in engine.due() if i.kind == "parked"] == []
        engine.go_live("shop", force=True)
        assert [(i.kind, i.feed, i.count) for i in engine.due() if i.kind == "parked"] == [
            ("parked", "export_levels", 1)]


def test_a_recheck_is_not_a_run_of_the_feed(tmp_path: Path, db_url: str) -> None:
    """A re-check that gets through neither resolves a failed run's bell nor takes the feed's slot."""
    from tests.support import memstore

    clock = Clock(T0)

    def engine(**settings: Any) -> Any:
        cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 2, "orders": 8,
                                                                                  **settings}}})
        return memstore.build(cfg, clock=clock)

    ok = engine()
    ok.run("import_orders", "shop")
    assert ok.parked()
    ok.close()
    down = engine(fail_read=True)
    try:
        assert down.run("import_orders", "shop").status == "failed"
        clock.advance(hours=7)
        due_before = {(i.kind, i.feed) for i in down.due()}
        info = down.recheck("import_orders", "shop")
        assert info is not None and info.status == "success"
        assert [n for n in down.notifications() if n.record_key is None]  # every run of the feed still fails
        assert ("feed", "import_orders") in due_before  # its slot came while it failed ...
        assert ("feed", "import_orders") in {(i.kind, i.feed) for i in down.due()}  # ... and is still to run
    finally:
        down.close()


def test_tick_at_a_time_runs_the_rechecks_due_at_that_time(tmp_path: Path, db_url: str) -> None:
    from tests.support import memstore

    clock = Clock(T0)
    engine = memstore.build(memstore.config(db_url, tmp_path / "data",
                                            {"shop": {"settings": {"products": 2, "orders": 8}}}), clock=clock)
    try:
        engine.run("import_orders", "shop")
        assert engine.parked()
        later = T0 + timedelta(hours=7)  # the engine's clock stays at T0: the host asks about a later time
        assert ("parked", "import_orders") in {(i.kind, i.feed) for i in engine.due(later)}
        (result,) = [r for r in engine.tick(later) if r.item.kind == "parked"]
        assert result.execution is not None and result.execution.trigger == "retry"
        assert result.execution.counts["read"] > 0  # it re-checked the records due then, not "nothing to do"
    finally:
        engine.close()
