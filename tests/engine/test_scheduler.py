"""The scheduler: what is due (cron slots in the configured zone, once after downtime), and ticks that run it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from engine import hookimpl
from engine.grouping import group_for_run
from engine.scheduler import SlotCache
from engine.store import journal, locks
from engine.store.models import Execution, FeedState, Lock, Parked
from engine.store.upsert import upsert
from tests.support import memstore, opsstore
from tests.support.opsstore import Clock, make_engine

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
ONLY_ITEMS = {"import_levels": {"enabled": False}, "check_stock": {"enabled": False}}


def due_names(engine: Any) -> list[tuple[str, str, str, str]]:
    return sorted((i.kind, i.integration, i.feed, i.reason) for i in engine.due())


def executions_of(engine: Any, feed: str) -> list[Execution]:
    with engine.sessions() as s:
        return list(s.scalars(select(Execution).where(Execution.feed == feed).order_by(Execution.id)))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def test_never_run_feeds_are_due_but_not_disabled_ones_nor_outbound_in_test_mode(tmp_path: Path, db_url: str,
                                                                                 clock: Clock) -> None:
    integrations = {"shop": {"settings": {"items": 3}, "feeds": {"check_stock": {"enabled": False}}}}
    with make_engine(tmp_path, db_url, integrations, clock) as engine:
        assert due_names(engine) == [("feed", "shop", "import_items", "never ran"),
                                     ("feed", "shop", "import_levels", "never ran")]
        assert [i.scheduled_for for i in engine.due() if i.feed == "import_items"] == [
            datetime(2024, 5, 1, 10, 0, tzinfo=UTC)]


def test_a_feed_that_missed_many_slots_runs_once_and_run_once_feeds_only_once(tmp_path: Path, db_url: str,
                                                                              clock: Clock) -> None:
    with make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 3}}}, clock,
                     scheduler={"pool_size": 2}) as engine:
        first = engine.tick()
        assert sorted((r.item.feed, r.status) for r in first) == [("import_items", "success"),
                                                                   ("import_levels", "success")]
        # The stock check waited for the one-time stock import it compares against; now it is due.
        assert due_names(engine) == [("feed", "shop", "check_stock", "never ran")]
        [checked] = engine.tick()
        assert (checked.item.feed, checked.status) == ("check_stock", "success")
        assert checked.execution is not None and checked.execution.counts["errors"] == 0
        assert engine.due() == []

        clock.advance(hours=5)  # twenty 15-minute slots missed while the engine was down
        assert due_names(engine) == [("feed", "shop", "import_items", "schedule")]
        [again] = engine.tick()
        assert again.item.scheduled_for == datetime(2024, 5, 1, 15, 0, tzinfo=UTC)
        assert again.execution is not None and again.execution.trigger == "schedule"
        assert engine.due() == []
        assert len(executions_of(engine, "import_items")) == 2

        clock.advance(days=400)  # the run-once import's yearly slot came round twice: still not due
        assert "import_levels" not in {i.feed for i in engine.due()}
        refused = engine.run("import_levels", "shop")
        assert refused.status == "skipped" and "runs once" in (refused.message or "")
        assert engine.run("import_levels", "shop", force=True).status == "success"


def test_per_integration_schedule_in_the_configured_time_zone(tmp_path: Path, db_url: str, clock: Clock) -> None:
    clock.now = datetime(2024, 6, 1, 23, 30, tzinfo=UTC)  # 01:30 on June 2nd in Amsterdam
    integrations = {
        "nightly": {"settings": {"items": 2}, "feeds": {**ONLY_ITEMS, "import_items": {"schedule": "0 2 * * *"}}},
        "often": {"settings": {"items": 2}, "feeds": ONLY_ITEMS},
    }
    with make_engine(tmp_path, db_url, integrations, clock, timezone="Europe/Amsterdam") as engine:
        assert {r.item.integration: r.status for r in engine.tick()} == {"nightly": "success", "often": "success"}
        clock.now = datetime(2024, 6, 1, 23, 59, tzinfo=UTC)
        assert due_names(engine) == [("feed", "often", "import_items", "schedule")]
        engine.tick()
        clock.now = datetime(2024, 6, 2, 0, 0, 30, tzinfo=UTC)  # 02:00:30 in Amsterdam
        due = {i.integration: i.scheduled_for for i in engine.due()}
        assert due == {"nightly": datetime(2024, 6, 2, 2, 0, tzinfo=ZoneInfo("Europe/Amsterdam")),
                       "often": datetime(2024, 6, 2, 0, 0, tzinfo=UTC)}
        engine.tick()
        with engine.sessions() as s:
            state = s.get(FeedState, ("nightly", "import_items"))
            assert state is not None and state.last_scheduled_for == datetime(2024, 6, 2, 0, 0, tzinfo=UTC)


def test_a_tick_runs_independent_feeds_at_the_same_time(tmp_path: Path, db_url: str, clock: Clock) -> None:
    # Each read waits at a two-party barrier: run one after the other, the first would time out and fail.
    opsstore.BARRIERS["pair"] = threading.Barrier(2, timeout=30)
    settings = {"items": 2, "barrier": "pair"}
    integrations = {"a": {"settings": settings, "feeds": ONLY_ITEMS}, "b": {"settings": settings, "feeds": ONLY_ITEMS}}
    with make_engine(tmp_path, db_url, integrations, clock, scheduler={"pool_size": 2}) as engine:
        results = engine.tick()
    assert sorted((r.item.integration, r.status) for r in results) == [("a", "success"), ("b", "success")]


def test_a_feed_locked_elsewhere_is_skipped_not_failed_and_stays_due(tmp_path: Path, db_url: str,
                                                                     clock: Clock) -> None:
    with make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 2}, "feeds": ONLY_ITEMS}}, clock) as engine:
        with engine.sessions.begin() as s:
            locks.acquire(s, "shop", "import_items", holder="other-host:1:x", lease=timedelta(seconds=60), now=T0)
        [result] = engine.tick()
        assert result.status == "locked" and "already running since" in (result.locked or "")
        assert executions_of(engine, "import_items") == []
        assert due_names(engine) == [("feed", "shop", "import_items", "never ran")]

        clock.advance(seconds=61)  # the other holder never renewed: its lease ran out
        [result] = engine.tick()
        assert result.status == "success"


def test_a_run_left_behind_by_a_dead_process_is_closed_and_resumed(tmp_path: Path, db_url: str,
                                                                   clock: Clock) -> None:
    with make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 8}, "feeds": ONLY_ITEMS}}, clock) as engine:
        with engine.sessions.begin() as s:  # what a process killed after its first page leaves behind
            locks.acquire(s, "shop", "import_items", holder="dead:42:x", lease=timedelta(seconds=60), now=T0)
            row = journal.start_execution(s, integration="shop", feed="import_items", trigger="schedule", now=T0,
                                          holder="dead:42:x")
            locks.attach(s, "shop", "import_items", holder="dead:42:x", execution_id=row.id)
            journal.save_cursor(s, "shop", "import_items", {"after": 5}, T0)
            upsert(s, FeedState.__table__, [{"integration": "shop", "feed": "import_items", "last_started_at": T0,
                                             "last_scheduled_for": datetime(2024, 5, 1, 10, 0, tzinfo=UTC)}],
                   key=["integration", "feed"])
        dead = row.id
        clock.advance(seconds=30)
        assert engine.due() == [] and engine.reap() == []  # its lease still runs

        clock.advance(seconds=31)
        assert due_names(engine) == [("feed", "shop", "import_items", "resume")]
        [result] = engine.tick()
        with engine.sessions() as s:
            old = s.get_one(Execution, dead)
            assert old.status == "failed" and "stopped without finishing" in (old.message or "")
            assert old.cursor_after == {"after": 5}
        assert result.execution is not None and result.execution.status == "success"
        assert result.execution.cursor_before == {"after": 5} and result.execution.counts["read"] == 3


def test_an_interrupted_run_resumes_on_the_next_tick(tmp_path: Path, db_url: str, clock: Clock) -> None:
    settings = {"items": 12, "page_size": 5}
    with make_engine(tmp_path, db_url, {"shop": {"settings": settings, "feeds": ONLY_ITEMS}}, clock) as engine:
        stop = threading.Event()
        stop.set()  # as after SIGTERM: finish the page in hand, then stop
        first = engine.run("import_items", "shop", trigger="schedule", stop=stop)
        assert first.status == "interrupted" and first.counts["read"] == 5
        assert due_names(engine) == [("feed", "shop", "import_items", "resume")]
        [result] = engine.tick()
        assert result.execution is not None and result.execution.counts["read"] == 7
        assert opsstore.write_counts(engine.sessions) == {f"{i}": 1 for i in range(1, 13)}


def test_parked_records_are_due_as_their_own_work_and_a_failed_recheck_waits(tmp_path: Path, db_url: str,
                                                                              clock: Clock) -> None:
    settings = {"items": 4, "fail_fetch": True}  # the store can be read, but re-reading by id fails
    feeds = {**ONLY_ITEMS, "import_items": {"schedule": "0 0 * * *"}}
    with make_engine(tmp_path, db_url, {"shop": {"settings": settings, "feeds": feeds}}, clock) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
        engine.tick()
        assert [p.record_key for p in engine.parked()] == ["2"]
        assert engine.due() == []

        clock.now = datetime(2024, 5, 1, 11, 0, 1, tzinfo=UTC)
        assert due_names(engine) == [("parked", "shop", "import_items", "parked")]
        [result] = engine.tick()
        assert result.status == "failed" and result.execution is not None
        assert result.execution.trigger == "retry" and "503" in (result.execution.message or "")
        with engine.sessions() as s:
            nxt = s.scalar(select(Parked.next_check_at))
        assert nxt == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the next retry slot, not the next tick
        assert engine.due() == []


class Observer:
    """A plugin that remembers every execution and notification it is told about."""

    def __init__(self) -> None:
        self.executions: list[Any] = []
        self.notifications: list[Any] = []

    @hookimpl
    def execution_finished(self, execution: Any) -> None:
        self.executions.append(execution)

    @hookimpl
    def notification_raised(self, notification: Any) -> None:
        self.notifications.append(notification)


def test_observers_hear_of_every_execution_and_notification(tmp_path: Path, db_url: str, clock: Clock) -> None:
    seen = Observer()
    integrations = {"shop": {"settings": {"items": 3}, "feeds": {"check_stock": {"enabled": False}}}}
    with make_engine(tmp_path, db_url, integrations, clock, plugins=[seen]) as engine:
        opsstore.edit(engine.config.data_dir, "shop", 3, status="broken")
        ran = engine.tick()
        skipped = engine.run("import_levels", "shop")
    assert sorted(e.id for e in seen.executions) == sorted([*(r.execution.id for r in ran if r.execution),
                                                            skipped.id])
    assert [(n.feed, n.record_label) for n in seen.notifications] == [("import_items", "S3")]


def test_slot_cache_counts_a_slot_at_now_and_reuses_its_window() -> None:
    cache = SlotCache(ZoneInfo("UTC"))
    at = datetime(2024, 5, 1, 10, 15, tzinfo=UTC)
    assert cache.latest("*/15 * * * *", at) == at
    assert cache.latest("*/15 * * * *", at - timedelta(microseconds=1)) == at - timedelta(minutes=15)
    assert cache.next_slot("*/15 * * * *", at + timedelta(minutes=3)) == at + timedelta(minutes=15)
    assert cache.earliest_next(at) == at + timedelta(minutes=15)
    with pytest.raises(ValueError, match="invalid cron expression"):
        cache.latest("61 * * * *", at)


def test_the_hour_repeated_when_clocks_go_back_runs_a_daily_slot_once() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    cache = SlotCache(amsterdam)
    # 2025-10-26: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens at 00:xx and again at 01:xx UTC.
    first = datetime(2025, 10, 26, 0, 0, tzinfo=UTC)
    # (compared in UTC: Python never finds a time in the repeated hour equal to one of another zone)
    latest = {cache.latest("0 2 * * *", datetime(2025, 10, 26, h, m, 30, tzinfo=UTC)).astimezone(UTC)
              for h, m in [(0, 0), (0, 45), (1, 0), (1, 30), (2, 0), (2, 30), (23, 0)]}
    assert latest == {first}  # one slot that day, never "02:00+01:00" an hour later
    upcoming = cache.next_slot("0 2 * * *", datetime(2025, 10, 26, 0, 30, tzinfo=UTC))
    assert upcoming.astimezone(UTC) == datetime(2025, 10, 27, 1, 0, tzinfo=UTC)
    assert cache.latest("0 * * * *", datetime(2025, 10, 26, 2, 0, 30, tzinfo=UTC)).astimezone(UTC) == datetime(
        2025, 10, 26, 2, 0, tzinfo=UTC)


def _slots_through(cache: SlotCache, schedule: str, start: datetime, hours: int) -> list[datetime]:
    """Every latest slot seen walking ``hours`` in 5-minute steps, in UTC; each window holds its ``now``."""
    seen: list[datetime] = []
    for step in range(hours * 12):
        now = start + timedelta(minutes=5 * step)
        latest, upcoming = cache.window(schedule, now)
        assert latest <= now < upcoming, (schedule, now, latest, upcoming)
        assert upcoming.astimezone(UTC) - now <= timedelta(hours=2), (schedule, now, upcoming)
        if latest.astimezone(UTC) not in seen:
            seen.append(latest.astimezone(UTC))
    return seen


def test_every_hour_slots_come_each_real_hour_when_clocks_go_back_and_skip_the_hour_that_does_not_exist() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    # 2025-10-26: 02:00-02:59 happens twice (00:xx UTC summer time, 01:xx UTC winter time). As cron does,
    # an every-hour slot comes in both; croniter alone lost the second (and went back to 00:00 UTC there).
    back = datetime(2025, 10, 25, 22, 0, tzinfo=UTC)
    hourly = [back + timedelta(hours=h) for h in range(6)]
    assert _slots_through(SlotCache(amsterdam), "0 * * * *", back, 6) == hourly
    half_hourly = [back + timedelta(minutes=30 * h) for h in range(12)]
    assert _slots_through(SlotCache(amsterdam), "*/30 * * * *", back, 6) == half_hourly
    # 2025-03-30: 02:00-02:59 does not exist (01:00 UTC is 03:00 summer time): no slot stands for it.
    forward = datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    walls = [s.astimezone(amsterdam).strftime("%H:%M") for s in
             _slots_through(SlotCache(amsterdam), "0 * * * *", forward, 4)]
    assert walls == ["00:00", "01:00", "03:00", "04:00"]
    assert _slots_through(SlotCache(amsterdam), "0 * * * *", forward, 4) == [
        forward + timedelta(hours=h) for h in range(4)]  # still every real hour: the clock skipped one


def test_due_costs_the_same_few_queries_for_two_or_forty_integrations(tmp_path: Path, db_url: str,
                                                                       clock: Clock) -> None:
    counts = []
    for n in (2, 40):
        root = tmp_path / str(n)
        root.mkdir()
        integrations = {f"shop-{i}": {"settings": {"items": 1}} for i in range(n)}
        with make_engine(root, db_url, integrations, clock) as engine:
            statements: list[str] = []

            def record(*args: Any, seen: list[str] = statements) -> None:
                seen.append(args[2])

            event.listen(engine.db, "before_cursor_execute", record)
            # Every feed but the outbound one (test mode) and the check (it waits for the stock import).
            assert len(engine.due()) == 2 * n
            counts.append(len([q for q in statements if q.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] <= 5


def test_a_check_waits_for_the_one_time_import_of_what_it_compares(tmp_path: Path, db_url: str,
                                                                    clock: Clock) -> None:
    # On a fresh database every feed is due at once: a stock check racing the stock import
    # would report every SKU as missing from the hub and ring the bell for each.
    with make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 3}}}, clock) as engine:
        assert "check_stock" not in {i.feed for i in engine.due()}
        refused = engine.run("check_stock", "shop")
        assert refused.status == "skipped" and "'import_levels' imports once" in (refused.message or "")
        assert engine.notifications() == []
        assert engine.run("check_stock", "shop", force=True).status == "partial"  # asked for: every SKU differs
        assert engine.run("import_levels", "shop").status == "success"
        assert engine.run("check_stock", "shop").status == "success"

    disabled = {"plain": {"settings": {"items": 3}, "feeds": {"import_levels": {"enabled": False}}}}
    with make_engine(tmp_path / "other", db_url, disabled, clock) as engine:  # no one-time import to wait for
        assert ("plain", "check_stock") in {(i.integration, i.feed) for i in engine.due()}


def test_two_schedulers_that_found_the_same_slot_due_run_it_once(tmp_path: Path, db_url: str,
                                                                  clock: Clock) -> None:
    # Two `run --due` (or two hosts' tick()) that looked at the same moment: each holds its own due list.
    with make_engine(tmp_path, db_url, {"shop": {"settings": {"items": 2}, "feeds": ONLY_ITEMS}}, clock) as engine:
        engine.tick()  # the feed has run before: its next slot is a "schedule" one
        clock.advance(minutes=15)
        [mine] = engine.due()
        [theirs] = engine.due()
        assert mine.reason == "schedule"
        done = engine.scheduler.run_item(mine)
        assert done.execution is not None and done.execution.status == "success"
        late = engine.scheduler.run_item(theirs)
        assert late.execution is None and "already ran for its" in (late.locked or ""), late
        assert len(executions_of(engine, "import_items")) == 2
        assert engine.due() == []
        with engine.sessions() as s:
            assert s.scalars(select(Lock)).all() == []  # the refused run left no lease behind


def live_shop(tmp_path: Path, db_url: str, clock: Clock, products: int, **engine: Any) -> Any:
    """A memstore engine whose shop has imported products and stock and is live (outbound feeds run)."""
    built = memstore.build(memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": products}}},
                                           **engine), clock=clock)
    assert built.run("import_products", "shop").status == "success"
    assert built.run("import_stock", "shop").status == "success"
    built.go_live("shop", force=True, reason="tests")
    return built


def test_a_check_due_with_the_export_it_checks_runs_after_it(tmp_path: Path, db_url: str) -> None:
    # At 01:30 the nightly stock check and the */5 stock export are due together: beside each other,
    # the check reported every SKU the export had not pushed yet.
    clock = Clock(datetime(2024, 5, 1, 1, 0, tzinfo=UTC))
    with live_shop(tmp_path, db_url, clock, 10) as engine:
        assert engine.run("export_stock", "shop").status == "success"
        assert engine.run("stock_check", "shop").counts["errors"] == 0
        for sku in ("P1-1", "P2-1", "P3-1", "P4-1"):
            engine.set_stock(sku, 77)
        clock.now = datetime(2024, 5, 1, 1, 30, tzinfo=UTC)
        due = engine.due()
        assert {"export_stock", "stock_check"} <= {i.feed for i in due}
        groups = [[i.feed for i in g] for g in group_for_run(due, engine.config.integrations)]
        assert ["export_stock", "stock_check"] in groups and ["stock_check"] not in groups, groups
        busy = group_for_run(due, engine.config.integrations, busy={("shop", "export_stock")})
        assert "stock_check" not in {i.feed for g in busy for i in g}  # held while its export runs elsewhere
        results = engine.tick(pool_size=4)
        ran = [(r.item.feed, r.status) for r in results if r.item.feed in ("export_stock", "stock_check")]
        assert ran == [("export_stock", "success"), ("stock_check", "success")], ran
        [check] = [r.execution for r in results if r.item.feed == "stock_check"]
        [export] = [r.execution for r in results if r.item.feed == "export_stock"]
        assert check is not None and export is not None and export.finished_at <= check.started_at
        assert check.counts["errors"] == 0 and engine.notifications() == []


def test_two_checks_of_one_export_run_after_it_in_one_group_and_wait_while_it_runs_elsewhere(
        tmp_path: Path, db_url: str) -> None:
    import shutil

    feeds = tmp_path / "feeds.d"
    shutil.copytree(memstore.SUPPORT / "feeds.d", feeds)
    second = (feeds / "memstore" / "stock_check.yaml").read_text().replace("name: stock_check",
                                                                            "name: stock_check_b")
    (feeds / "memstore" / "stock_check_b.yaml").write_text(second)
    clock = Clock(datetime(2024, 5, 1, 1, 30, tzinfo=UTC))
    with live_shop(tmp_path, db_url, clock, 4, feeds_dir=str(feeds),
                   mappings_dir=str(memstore.SUPPORT / "mappings")) as engine:
        due = [i for i in engine.due() if i.feed in ("export_stock", "stock_check", "stock_check_b")]
        groups = [[i.feed for i in g] for g in group_for_run(due, engine.config.integrations)]
        assert groups == [["export_stock", "stock_check", "stock_check_b"]], groups  # one export, both after it

        with engine.sessions.begin() as s:  # the export runs in another process
            locks.acquire(s, "shop", "export_stock", holder="elsewhere", lease=timedelta(minutes=5), now=clock())
        results = engine.scheduler.run_group([i for i in due if i.feed in ("export_stock", "stock_check")])
        assert [(r.item.feed, bool(r.locked)) for r in results] == [("export_stock", True)]  # the check waits
        assert "stock_check" in {i.feed for i in engine.due()}


@pytest.mark.parametrize(("running", "starting"), [("export_stock", "stock_check"), ("stock_check", "export_stock")])
def test_a_check_and_the_export_it_checks_never_run_at_once_in_any_process(tmp_path: Path, db_url: str,
                                                                           running: str, starting: str) -> None:
    from engine.errors import LockedError

    clock = Clock(datetime(2024, 5, 1, 1, 30, tzinfo=UTC))
    with live_shop(tmp_path, db_url, clock, 4) as engine:
        with engine.sessions.begin() as s:  # serve, in another process, runs one of the two
            locks.acquire(s, "shop", running, holder="serve:1:x", lease=timedelta(minutes=5), now=clock())
        with pytest.raises(LockedError, match=f"waits: '{running}' is running"):
            engine.run(starting, "shop")
        results = [r for r in engine.tick() if r.item.feed == starting]  # held back, or refused: never run
        assert all(r.execution is None and "waits" in (r.locked or "") for r in results), results
        assert starting in {i.feed for i in engine.due()}  # it stays due for the next look
        with engine.sessions.begin() as s:
            locks.release(s, "shop", running, holder="serve:1:x")
        assert engine.run(starting, "shop").status in ("success", "partial")
