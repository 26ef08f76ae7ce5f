"""The run of a feed end to end: the memstore plugin and the real hub, through the runner, on both databases.

Counts and change detection, ``each`` flattening, a record whose mapping fails
alone, severity rules (info, retry, error), the bell's deduplication, and
streaming: a page is asked for only once the one before it is committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.app import Engine
from engine.store import journal
from engine.store.models import Event, Execution, Notification
from plugins.connect.models import Order, Product, ProductLink
from tests.support import memstore
from tests.support.opsstore import Clock

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)


def variants(product_id: int) -> int:
    """How many variants memstore gives product ``product_id``."""
    return product_id % 3 + 1


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def engine(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Engine]:
    memstore.CALLS.clear()
    cfg = memstore.config(db_url, tmp_path / "data", {"shop": {"settings": {"products": 10, "orders": 24}}})
    with memstore.build(cfg, clock=clock) as eng:
        yield eng
    memstore.PAGE_HOOKS.clear()


def edit(engine: Engine, kind: str, record_id: int, **fields: Any) -> None:
    memstore.edit(engine.config.data_dir, "shop", kind, record_id, **fields)


def products(engine: Engine) -> dict[str, Product]:
    with engine.sessions() as s:
        return {p.sku: p for p in s.scalars(select(Product))}


def events(engine: Engine, execution_id: int) -> list[Event]:
    with engine.sessions() as s:
        return list(s.scalars(select(Event).where(Event.execution_id == execution_id).order_by(Event.id)))


def counts(**nonzero: int) -> dict[str, int]:
    return {**dict.fromkeys(("read", "created", "updated", "unchanged", "info", "parked", "errors"), 0), **nonzero}


# -- counts and change detection -------------------------------------------------------------------


def test_each_variant_becomes_a_hub_product_and_an_unchanged_record_is_not_rewritten(engine: Engine,
                                                                                     clock: Clock) -> None:
    first = engine.run("import_products", "shop")
    total = sum(variants(i) for i in range(1, 11))
    assert (first.status, first.counts) == ("success", counts(read=10, created=total))
    hub = products(engine)
    assert len(hub) == total
    assert {sku for sku in hub if sku.startswith("P2-")} == {"P2-1", "P2-2", "P2-3"}
    assert (hub["P2-3"].name, hub["P2-3"].barcode, hub["P2-3"].weight_grams) == ("Product 2 - P2-3", "0000023", 300)
    with engine.sessions() as s:
        link = s.scalars(select(ProductLink).where(ProductLink.sku == "P2-3")).one()
    assert (link.integration, link.external_id, link.data) == ("shop", "23", {"product_id": 2, "variant_id": 23})

    clock.advance(hours=1)
    edit(engine, "products", 4, title="Product four")  # mapped: its 2 variants change
    edit(engine, "products", 5, tags="internal")  # not mapped: re-read, nothing to write
    second = engine.run("import_products", "shop")
    assert (second.status, second.counts) == ("success", counts(read=2, updated=2, unchanged=3))
    after = products(engine)
    assert after["P4-1"].name == "Product four - P4-1"
    assert after["P4-1"].updated_at != hub["P4-1"].updated_at
    assert {sku: p.updated_at for sku, p in after.items() if not sku.startswith("P4-")} == {
        sku: p.updated_at for sku, p in hub.items() if not sku.startswith("P4-")}

    third = engine.run("import_products", "shop")
    assert (third.counts, third.message) == (counts(), "nothing to do")
    assert third.cursor_before == second.cursor_after == {"seq": 2, "after": 5}


def test_a_record_whose_mapping_fails_fails_alone_and_the_rest_of_its_page_is_written(engine: Engine) -> None:
    edit(engine, "products", 3, weight_unit="stone")  # moves product 3 to the end of page 2: 7, 8, 9, 10, 3
    run = engine.run("import_products", "shop")
    total = sum(variants(i) for i in range(1, 11))
    assert (run.status, run.counts) == ("partial", counts(read=10, created=total - variants(3), errors=1))
    hub = products(engine)
    assert "P3-1" not in hub
    assert {"P7-1", "P8-1", "P9-1", "P10-1"} <= set(hub)

    [event] = [e for e in events(engine, run.id) if e.severity == "error"]
    assert event.record_key == "3"
    for part in ("feed import_products", "record 3", "'weight_grams'", "weight_grams(grams, parent.weight_unit)",
                 "'stone'"):
        assert part in event.message
    assert event.details == {"field": "weight_grams", "expression": "weight_grams(grams, parent.weight_unit)"}
    [bell] = engine.notifications()
    assert (bell.feed, bell.record_key, bell.record_label, bell.message) == (
        "import_products", "3", "Product 3", event.message)
    assert "mapping" in (bell.hint or "")

    edit(engine, "products", 3, weight_unit="kg")
    fixed = engine.run("import_products", "shop")
    assert fixed.counts == counts(read=1, created=1)
    assert products(engine)["P3-1"].weight_grams == 100_000
    assert engine.notifications() == []


# -- rules -------------------------------------------------------------------------------------------


def test_rules_log_info_park_retries_and_ring_the_bell_for_errors(engine: Engine) -> None:
    run = engine.run("import_orders", "shop")
    # 24 orders: 12 paid (one ships by Pigeon), 6 refunded or voided, 6 pending or authorized
    assert (run.status, run.counts) == ("partial", counts(read=24, created=11, info=6, parked=6, errors=1))
    assert run.message == "24 read, 11 created, 6 info, 6 parked, 1 errors"

    evs = events(engine, run.id)
    assert sorted(e.message for e in evs if e.severity == "info") == sorted(
        f"order #{1000 + i} is {s}; not imported" for i, s in
        [(5, "refunded"), (7, "voided"), (13, "refunded"), (15, "voided"), (21, "refunded"), (23, "voided")])
    assert sorted(int(e.record_key) for e in evs if e.severity == "retry") == [1, 3, 9, 11, 17, 19]

    parked = {p.record_key: p for p in engine.parked()}
    assert sorted(parked, key=int) == ["1", "3", "9", "11", "17", "19"]
    one = parked["1"]
    assert (one.record_label, one.reason, one.attempts) == ("#1001", "order #1001 awaits payment (pending)", 1)
    assert one.next_check_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # next slot of "0 */6 * * *"
    assert one.expires_at == T0 + timedelta(days=3)

    [bell] = engine.notifications()
    assert (bell.feed, bell.record_key, bell.record_label, bell.count) == ("import_orders", "22", "#1022", 1)
    assert bell.message == "order #1022 ships by 'Pigeon', which has no carrier"
    assert "maps.carriers" in (bell.hint or "")
    assert [e.message for e in evs if e.severity == "error"] == [bell.message]

    with engine.sessions() as s:
        hub = {o.external_id: o for o in s.scalars(select(Order))}
        assert sorted(hub, key=int) == [str(i) for i in range(2, 25, 2) if i != 22]
        assert {o.carrier for o in hub.values()} == {"postnl"}
        assert [(line.sku, line.quantity) for line in hub["4"].lines] == [("P5-1", 1)]


def test_an_error_rings_once_per_cause_comes_back_after_ack_and_clears_when_the_record_passes(
        engine: Engine, clock: Clock) -> None:
    engine.run("import_orders", "shop")
    [first] = engine.notifications()

    clock.advance(minutes=10)
    edit(engine, "orders", 22, note="customer called")  # re-read; same cause
    again = engine.run("import_orders", "shop")
    assert again.counts == counts(read=1, errors=1)
    [same] = engine.notifications()
    assert (same.id, same.count, same.last_seen) == (first.id, 2, clock.now)

    assert engine.acknowledge([same.id]) == 1
    assert engine.notifications() == []
    clock.advance(minutes=10)
    edit(engine, "orders", 22, note="customer called again")
    engine.run("import_orders", "shop")
    [reopened] = engine.notifications()
    assert (reopened.id, reopened.count, reopened.acknowledged_at) == (first.id, 3, None)

    clock.advance(minutes=10)
    edit(engine, "orders", 22, shipping="Standard")
    passed = engine.run("import_orders", "shop")
    assert (passed.status, passed.counts) == ("success", counts(read=1, created=1))
    assert engine.notifications() == []
    with engine.sessions() as s:
        row = s.get_one(Notification, first.id)
        assert row.resolved_at is not None and row.count == 3
        assert s.scalars(select(Order).where(Order.external_id == "22")).one().carrier == "postnl"


def test_parked_records_are_rechecked_on_the_retry_schedule_until_they_pass_or_expire(
        engine: Engine, clock: Clock) -> None:
    engine.run("import_orders", "shop")
    clock.now = datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)
    still = engine.recheck("import_orders", "shop")
    assert still is not None and (still.trigger, still.counts) == ("retry", counts(read=6, parked=6))
    assert {(p.attempts, p.next_check_at) for p in engine.parked()} == {
        (2, datetime(2024, 5, 1, 18, 0, tzinfo=UTC))}
    assert engine.recheck("import_orders", "shop") is None  # nothing is due before 18:00

    edit(engine, "orders", 1, financial_status="paid")  # paid: the next incremental run imports it
    run = engine.run("import_orders", "shop")
    # order 1 by cursor; order 22 (its shipping method still has no carrier) re-fetched and failing again
    assert run.counts == counts(read=2, created=1, errors=1)
    assert "1" not in {p.record_key for p in engine.parked()}
    assert any("passed after 2 check(s)" in e.message for e in events(engine, run.id))

    edit(engine, "orders", 3, financial_status="paid")
    clock.now = datetime(2024, 5, 1, 18, 0, 1, tzinfo=UTC)
    recheck = engine.recheck("import_orders", "shop")  # fetched again by key, not read by cursor
    assert recheck is not None and recheck.counts == counts(read=5, created=1, parked=4)
    assert sorted(p.record_key for p in engine.parked()) == ["11", "17", "19", "9"]

    clock.now = T0 + timedelta(days=3, hours=2)
    expired = engine.recheck("import_orders", "shop")
    assert expired is not None and expired.counts == counts(read=4, info=4)
    assert engine.parked() == []
    assert [n.record_key for n in engine.notifications()] == ["22"]  # giving up is info: no new bell
    assert all("gave up on record" in e.message for e in events(engine, expired.id))


# -- streaming -----------------------------------------------------------------------------------------


def test_the_next_page_is_asked_for_only_after_the_previous_one_is_committed(engine: Engine) -> None:
    seen: list[tuple[int, Any, int, int]] = []

    def probe(integration: str, resource: str, n: int) -> None:
        """What is committed when the runner asks for page ``n``: cursor, hub orders, the execution's reads."""
        with engine.sessions() as s:
            running = s.scalars(select(Execution).where(Execution.status == "running")).one()
            seen.append((n, journal.load_cursor(s, integration, "import_orders"),
                         len(list(s.scalars(select(Order.id)))), running.counts["read"]))

    memstore.PAGE_HOOKS.append(probe)
    run = engine.run("import_orders", "shop")  # 24 orders, 5 a page
    assert run.counts["read"] == 24
    paid = [i for i in range(2, 25, 2) if i != 22]
    assert seen == [(n, {"seq": 0, "after": 5 * (n - 1)} if n > 1 else None,
                     sum(1 for i in paid if i <= 5 * (n - 1)), 5 * (n - 1)) for n in range(1, 6)]


def test_a_run_aborted_by_a_second_ctrl_c_is_recorded_and_frees_the_feed(engine: Engine) -> None:
    # The first Ctrl-C asks the run to stop after the page in hand; the second raises KeyboardInterrupt
    # wherever the run is. The run is still recorded, its feed free, and the next run resumes.
    def ctrl_c(_integration: str, _resource: str, n: int) -> None:
        if n == 3:  # pages 1 and 2 are committed
            raise KeyboardInterrupt

    memstore.PAGE_HOOKS.append(ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        engine.run("import_orders", "shop")
    memstore.PAGE_HOOKS.remove(ctrl_c)

    (aborted,) = engine.executions(feed="import_orders")
    assert aborted.status == "interrupted" and "the page in hand was not committed" in (aborted.message or "")
    assert aborted.counts["read"] == 10 and aborted.cursor_after == {"seq": 0, "after": 10}
    again = engine.run("import_orders", "shop")  # not locked: the aborted run gave the feed back
    assert again.status in ("success", "partial") and again.cursor_before == {"seq": 0, "after": 10}
    assert again.counts["read"] == 14
