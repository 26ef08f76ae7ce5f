"""End to end, orders: import_new_orders and update_orders against the sandbox over HTTP, on SQLite and PostgreSQL.

Covers paging, the severity rules (info, parked, the bell), parked orders
imported once paid and given up after 30 days, a cancel reaching the hub as a
status change only, and the bell deduplicating a repeated cause.
"""

from __future__ import annotations

import math

from engine import hubapi
from engine.app import Engine
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import (
    CARRIERS,
    ORDERS,
    PAGE_SIZE,
    SHOP,
    Clock,
    EngineFactory,
    ShopApi,
    expected_orders,
    hub_orders,
    route_count,
    run,
    sql,
)


def parked_keys(engine: Engine) -> set[str]:
    return {p.record_key for p in engine.parked(integration=SHOP, feed="import_new_orders")}


def order_bell(engine: Engine) -> dict[str, list[object]]:
    """Open notifications of import_new_orders by record key."""
    out: dict[str, list[object]] = {}
    for note in engine.notifications(integration=SHOP):
        if note.feed == "import_new_orders" and note.record_key:
            out.setdefault(note.record_key, []).append(note)
    return out


def test_import_new_orders_applies_every_rule_over_many_pages(engine: Engine, sb: ShopifySandbox,
                                                              shop: ShopApi) -> None:
    orders = {str(o["id"]): o for o in shop.orders()}
    want = expected_orders(list(orders.values()))
    assert all(want.values()), want  # the shop exercises every rule
    sb.reset_stats()

    info = run(engine, "import_new_orders", "partial")

    assert route_count(sb, "orders.json") == math.ceil(ORDERS / PAGE_SIZE)
    assert info.counts["read"] == ORDERS
    assert info.counts["created"] == len(want["imported"]) and info.counts["parked"] == len(want["parked"])
    assert info.counts["info"] == len(want["info"]) and info.counts["errors"] == len(want["bell"])
    hub = {o["external_id"]: o for o in hub_orders(engine)}
    assert set(hub) == want["imported"]
    for key, order in hub.items():
        store = orders[key]
        assert order["number"] == store["name"] and order["payment_status"] == "paid"
        assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [
            (li["sku"], li["quantity"]) for li in store["line_items"]]
        assert order["shipping_address"] == store["shipping_address"]
    assert parked_keys(engine) == want["parked"]
    assert set(order_bell(engine)) == want["bell"]


def test_parked_order_is_imported_once_the_store_marks_it_paid(engine: Engine, sb: ShopifySandbox, shop: ShopApi,
                                                               clock: Clock) -> None:
    want = expected_orders(shop.orders())
    run(engine, "import_new_orders", "partial")
    orders = {str(o["id"]): o for o in shop.orders()}
    paid = next(k for k in sorted(want["parked"]) if orders[k]["shipping_lines"][0]["code"] == "Standard")

    sb.set_order(int(paid), financial_status="paid")
    assert engine.recheck("import_new_orders", SHOP) is None  # not due before the next hourly check
    clock.advance(hours=1)
    info = engine.recheck("import_new_orders", SHOP)

    assert info is not None and info.trigger == "retry"
    assert info.counts["read"] == len(want["parked"])
    assert info.counts["created"] == 1 and info.counts["parked"] == len(want["parked"]) - 1
    order = hubapi.get_order(engine, paid, integration=SHOP)
    assert order is not None and order["payment_status"] == "paid" and order["number"] == orders[paid]["name"]
    left = engine.parked(integration=SHOP)
    assert {p.record_key for p in left} == want["parked"] - {paid}
    assert all(p.attempts == 2 for p in left)

    also = next(k for k in sorted(want["parked"] - {paid}) if orders[k]["shipping_lines"][0]["code"] in CARRIERS)
    sb.set_order(int(also), financial_status="paid")
    regular = run(engine, "import_new_orders", "partial")  # the store's change brings it in the regular run too
    assert regular.counts["created"] == 1 and regular.counts["parked"] == 0
    assert hubapi.get_order(engine, also, integration=SHOP) is not None
    assert parked_keys(engine) == want["parked"] - {paid, also}


def test_payment_statuses_no_rule_knows_ring_the_bell_and_a_lapsed_authorization_is_info(
        engine: Engine, sb: ShopifySandbox, shop: ShopApi, clock: Clock) -> None:
    want = expected_orders(shop.orders())
    run(engine, "import_new_orders", "partial")
    orders = {str(o["id"]): o for o in shop.orders()}
    lapsed, odd = [k for k in sorted(want["parked"]) if orders[k]["shipping_lines"][0]["code"] in CARRIERS][:2]
    sb.set_order(int(lapsed), financial_status="expired")  # the authorization ran out, nothing was captured
    sb.set_order(int(odd), financial_status="on_hold_by_bank")  # a status the feed's rules do not know

    clock.advance(hours=1)
    info = engine.recheck("import_new_orders", SHOP)

    assert info is not None and info.counts["info"] == 1 and info.counts["errors"] == 1
    assert parked_keys(engine) == want["parked"] - {lapsed, odd}
    assert hubapi.get_order(engine, lapsed, integration=SHOP) is None
    assert hubapi.get_order(engine, odd, integration=SHOP) is None
    (note,) = order_bell(engine)[odd]
    assert "'on_hold_by_bank', which no rule of this feed knows" in note.message and note.hint
    assert lapsed not in order_bell(engine)


def test_parked_orders_are_given_up_as_info_after_30_days(engine: Engine, shop: ShopApi, clock: Clock) -> None:
    want = expected_orders(shop.orders())
    run(engine, "import_new_orders", "partial")
    bell_before = {n.id: n.count for n in engine.notifications(integration=SHOP)}

    clock.advance(days=29)
    still = engine.recheck("import_new_orders", SHOP)
    assert still is not None and still.counts["parked"] == len(want["parked"]) and still.counts["info"] == 0
    assert parked_keys(engine) == want["parked"]

    clock.advance(days=1, hours=1)
    info = engine.recheck("import_new_orders", SHOP)

    assert info is not None and info.status == "success"
    assert info.counts["info"] == len(want["parked"]) and info.counts["parked"] == 0 and info.counts["errors"] == 0
    assert engine.parked(integration=SHOP) == []
    assert {n.id: n.count for n in engine.notifications(integration=SHOP)} == bell_before  # info rings no bell
    _, events = engine.execution(info.id)
    gave_up = {e["record_key"] for e in events if e["severity"] == "info" and "gave up" in e["message"]}
    assert gave_up == want["parked"]
    assert not want["parked"] & {o["external_id"] for o in hub_orders(engine)}


def test_a_cancel_reaches_the_hub_as_a_status_change_only(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    run(engine, "import_new_orders", "partial")
    run(engine, "update_orders")
    key = sorted(expected_orders(shop.orders())["imported"])[0]
    before = hubapi.get_order(engine, key, integration=SHOP)
    assert before is not None and before["status"] == "open"

    sb.cancel_order(int(key), reason="customer")
    moved = dict(before["shipping_address"], address1="1 Somewhere Else", city="Elsewhere")
    sb.set_order(int(key), shipping_address=moved, email="changed@example.com",
                 line_items=[dict(li, quantity=99) for li in shop.order(before["number"])["line_items"]])
    sb.reset_stats()
    info = run(engine, "update_orders")

    assert info.counts["read"] == 1 and info.counts["updated"] == 1
    assert route_count(sb, "orders.json") == 1
    after = hubapi.get_order(engine, key, integration=SHOP)
    assert after is not None and after["status"] == "cancelled"
    untouched = ("shipping_address", "billing_address", "email", "lines", "total", "number", "customer", "carrier")
    assert {f: after[f] for f in untouched} == {f: before[f] for f in untouched}


def test_unknown_shipping_method_rings_the_bell_once_per_order(engine: Engine, sb: ShopifySandbox,
                                                              shop: ShopApi) -> None:
    want = expected_orders(shop.orders())
    orders = {str(o["id"]): o for o in shop.orders()}
    run(engine, "import_new_orders", "partial")

    bell = order_bell(engine)
    assert set(bell) == want["bell"]
    for key in want["bell"]:
        (note,) = bell[key]
        assert orders[key]["name"] in note.message and "Carrier Pigeon" in note.message
        assert note.record_label == orders[key]["name"] and note.count == 1 and note.hint

    again = run(engine, "import_new_orders", "partial")  # nothing changed: re-fetched, same cause

    assert again.counts["read"] == len(want["bell"]) and again.counts["errors"] == len(want["bell"])
    bell = order_bell(engine)
    assert set(bell) == want["bell"]
    assert all(len(notes) == 1 and notes[0].count == 2 for notes in bell.values())

    for key in want["bell"]:
        sb.set_order(int(key), note="customer called about delivery")  # the order changes, the cause does not
    third = run(engine, "import_new_orders", "partial")

    assert third.counts["read"] == len(want["bell"])  # read once: by the window, so not re-fetched as well
    assert all(len(notes) == 1 and notes[0].count == 3 for notes in order_bell(engine).values())
    assert not want["bell"] & {o["external_id"] for o in hub_orders(engine)}


def test_adding_the_carrier_then_running_again_imports_the_order(make_engine: EngineFactory, shop: ShopApi) -> None:
    """What the bell's hint promises: add the shipping method to maps.carriers, run import_new_orders again."""
    want = expected_orders(shop.orders())
    run(make_engine(), "import_new_orders", "partial")

    fixed = make_engine(maps={"carriers": {"Standard": "postnl", "Express": "dhl", "DHL Express": "dhl",
                                           "UPS Ground": "ups", "Carrier Pigeon": "pigeon"}})
    info = run(fixed, "import_new_orders")

    assert info.counts["read"] == info.counts["created"] == len(want["bell"])
    carriers = {o["external_id"]: o["carrier"] for o in hub_orders(fixed)}
    assert all(carriers.get(k) == "pigeon" for k in want["bell"])
    assert not order_bell(fixed)


def test_an_order_that_rang_the_bell_and_was_then_cancelled_stops_ringing(engine: Engine, sb: ShopifySandbox,
                                                                         shop: ShopApi) -> None:
    want = expected_orders(shop.orders())
    run(engine, "import_new_orders", "partial")
    assert set(order_bell(engine)) == want["bell"] != set()
    key = sorted(want["bell"])[0]
    sb.cancel_order(int(key), reason="customer")

    settled = run(engine, "import_new_orders", "success", "partial")
    assert settled.counts["info"] == 1
    assert set(order_bell(engine)) == want["bell"] - {key}  # resolved: the cancel settled it
    resolved = sql(engine, "SELECT resolved_at FROM ce_notifications WHERE record_key = :k", k=key).all()
    assert resolved and all(r[0] is not None for r in resolved)

    run(engine, "import_new_orders", "success", "partial")  # re-reads what the window still holds
    assert set(order_bell(engine)) == want["bell"] - {key}  # and the bell stays quiet


def test_feeds_lists_each_feed_with_its_schedule_and_the_recheck_of_what_it_parks(engine: Engine) -> None:
    import json

    from click.testing import CliRunner

    from engine.cli import cli

    result = CliRunner().invoke(cli, ["feeds", "--integration", SHOP, "--json"], obj={"engine": engine})
    assert result.exit_code == 0, result.output
    feeds = {f["feed"]: f for f in json.loads(result.output)["feeds"]}
    assert feeds["import_new_orders"]["schedule"] == "*/10 * * * *"
    # parked by a rule (unpaid orders) or by the store (a 429/5xx for one record): re-checked hourly either way
    assert feeds["import_new_orders"]["recheck"] == feeds["export_stock_levels"]["recheck"] == "0 * * * *"
    assert feeds["import_stock_levels"]["run_once"] is True


def test_an_order_with_a_value_no_database_can_hold_fails_alone(engine: Engine, sb: ShopifySandbox,
                                                                shop: ShopApi) -> None:
    good = sb.add_order(financial_status="paid", shipping_code="Standard")
    bad = sb.add_order(financial_status="paid", shipping_code="Standard", email="a\u0000b@example.com")
    info = run(engine, "import_new_orders", "partial")
    assert hubapi.get_order(engine, str(good["id"]), integration=SHOP) is not None
    assert hubapi.get_order(engine, str(bad["id"]), integration=SHOP) is None
    (note,) = order_bell(engine)[str(bad["id"])]
    assert "email" in note.message and "NUL character" in note.message
    assert info.counts["errors"] >= 1
