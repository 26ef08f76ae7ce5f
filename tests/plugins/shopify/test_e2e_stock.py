"""End to end, stock and going live: test mode, go-live checks, stock pushes, fulfilments, stock checks.

Against the Shopify sandbox over HTTP, on SQLite and PostgreSQL. Outbound
feeds write to the store only in live mode, and each push reaches the store
exactly once, also when the engine dies between the push and its bookkeeping.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from engine import hubapi
from engine.app import Engine
from engine.golive import STOCK_CLEAN, STOCK_IMPORTED
from plugins.shopify.sandbox import ShopifySandbox
from plugins.shopify.sandbox.state import ACCESS_SCOPES
from tests.plugins.shopify.conftest import (
    FULFILMENTS_PATH,
    ROOT,
    SHOP,
    STOCK_SET_PATH,
    Clock,
    ShopApi,
    expected_orders,
    go_live,
    hub_stock,
    run,
    sandbox_env,
    sql,
    store_writes,
)

#: Every feed of feeds.d/shopify, in the order an integrator first runs them.
FEEDS = ("import_new_products", "update_products", "import_product_images", "import_stock_levels",
         "import_new_orders", "update_orders", "stock_check", "export_stock_levels", "shipping_confirmation")
OUTBOUND = ("export_stock_levels", "shipping_confirmation")
TRACKING = "E2E-TRACK-0001"


def ship_first_order(engine: Engine, shop: ShopApi) -> str:
    """Import orders, then record a hub shipment of the first imported one; returns its store id."""
    run(engine, "import_new_orders", "partial")
    key = sorted(expected_orders(shop.orders())["imported"])[0]
    hubapi.create_shipment(engine, key, carrier="dhl", tracking=TRACKING, integration=SHOP)
    return key


def test_test_mode_runs_every_feed_and_writes_nothing_to_the_store(engine: Engine, sb: ShopifySandbox,
                                                                  shop: ShopApi) -> None:
    assert set(FEEDS) == {p.stem for p in (ROOT / "feeds.d" / "shopify").glob("*.yaml")}
    results = {}
    for feed in FEEDS:
        if feed == "export_stock_levels":
            sku = sorted(hub_stock(engine))[0]
            hubapi.set_stock(engine, sku, hub_stock(engine)[sku]["quantity"] + 3)
            key = sorted(expected_orders(shop.orders())["imported"])[0]
            hubapi.create_shipment(engine, key, carrier="dhl", tracking=TRACKING, integration=SHOP)
        results[feed] = engine.run(feed, SHOP)

    for feed, info in results.items():
        if feed in OUTBOUND:
            assert info.status == "skipped" and "test mode" in (info.message or ""), feed
            assert engine.run(feed, SHOP, force=True).status == "skipped"  # no force gets past test mode
        else:
            assert info.status in ("success", "partial") and info.counts["read"] > 0, (feed, info)
    assert sb.writes() == []


def test_go_live_is_refused_until_stock_was_imported_and_checked_and_the_token_may_write(
        engine: Engine, sb: ShopifySandbox) -> None:
    report = engine.go_live(SHOP)
    assert not report.switched and engine.mode(SHOP) == "test"
    assert {c.name for c in report.failed} == {STOCK_IMPORTED, STOCK_CLEAN}

    run(engine, "import_new_products")
    run(engine, "import_stock_levels")
    assert run(engine, "import_stock_levels", "skipped").message.startswith("feed 'import_stock_levels' runs once")
    assert {c.name for c in engine.go_live(SHOP).failed} == {STOCK_CLEAN}
    run(engine, "stock_check")

    sb.set_scopes([s for s in ACCESS_SCOPES if s != "write_inventory"])
    refused = engine.go_live(SHOP)
    assert not refused.switched and engine.mode(SHOP) == "test"
    assert [(c.name, "write_inventory" in c.detail) for c in refused.failed] == [("write access", True)]
    run(engine, "export_stock_levels", "skipped")

    sb.set_scopes(list(ACCESS_SCOPES))
    report = engine.go_live(SHOP, reason="checks pass")
    assert report.switched and report.failed == [] and engine.mode(SHOP) == "live"
    assert [(h.to_mode, h.forced) for h in engine.mode_history(SHOP)][-1] == ("live", False)
    assert run(engine, "export_stock_levels").counts["read"] > 0
    assert sb.writes() == []  # the hub and the store agree: nothing to push


def test_live_stock_export_pushes_each_change_once(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    go_live(engine)
    first = run(engine, "export_stock_levels")
    stock = hub_stock(engine)
    assert first.counts["unchanged"] == len(stock) and first.counts["updated"] == 0
    assert sb.writes() == []

    sku = sorted(stock)[5]
    item = stock[sku]["remote"]["inventory_item_id"]
    wanted = stock[sku]["quantity"] + 7
    hubapi.set_stock(engine, sku, wanted)
    second = run(engine, "export_stock_levels")
    third = run(engine, "export_stock_levels")

    assert second.counts["updated"] == 1 and third.counts["updated"] == 0
    pushes = store_writes(sb, STOCK_SET_PATH)
    assert [(w["method"], w["status"], w["body"]) for w in pushes] == [
        ("POST", 200, {"location_id": shop.location, "inventory_item_id": item, "available": wanted})]
    assert len(sb.writes()) == 1
    assert sb.inventory(item, shop.location) == wanted


def test_a_sku_renamed_in_the_store_moves_the_link_and_is_pushed_once(engine: Engine, sb: ShopifySandbox,
                                                                       shop: ShopApi) -> None:
    go_live(engine)
    run(engine, "export_stock_levels")
    product = shop.products()[3]
    variant = product["variants"][0]
    old, new = variant["sku"], variant["sku"] + "-RENAMED"
    sb.edit_product(product["id"], variants={variant["id"]: {"sku": new}})
    run(engine, "update_products")
    hubapi.set_stock(engine, new, 42)
    sb.reset_writes()

    pushed = [run(engine, "export_stock_levels").counts["updated"] for _ in range(3)]

    assert pushed == [1, 0, 0]
    item = variant["inventory_item_id"]
    assert [w["body"] for w in store_writes(sb, STOCK_SET_PATH)] == [
        {"location_id": shop.location, "inventory_item_id": item, "available": 42}]
    assert sb.inventory(item, shop.location) == 42
    stock = hub_stock(engine)  # the SKUs linked to the shop
    assert new in stock and old not in stock
    assert {p["sku"] for p in hubapi.hub_list(engine, "products", limit=10_000)} >= {old, new}  # kept, unlinked


def test_stock_check_reports_a_linked_sku_the_store_no_longer_has(engine: Engine, sb: ShopifySandbox,
                                                                  shop: ShopApi) -> None:
    run(engine, "import_new_products")
    run(engine, "import_stock_levels")
    assert run(engine, "stock_check").counts["errors"] == 0
    product = next(p for p in shop.products() if len(p["variants"]) > 1)
    gone = sb.delete_last_variant(product["id"])
    assert gone["sku"] in hub_stock(engine)  # still linked to the shop in the hub

    info = run(engine, "stock_check", "partial")

    assert info.counts["errors"] == 1
    (note,) = [n for n in engine.notifications(integration=SHOP) if n.feed == "stock_check"]
    assert note.record_key == gone["sku"] and "the store has no record of it" in note.message and note.hint
    assert run(engine, "stock_check", "partial").counts["errors"] == 1  # until someone acts on it
    assert [n.count for n in engine.notifications(integration=SHOP) if n.feed == "stock_check"] == [2]


def test_a_mismatch_the_check_finds_is_fixed_by_the_next_export(engine: Engine, sb: ShopifySandbox,
                                                                 shop: ShopApi) -> None:
    go_live(engine)
    stock = hub_stock(engine)
    sku = sorted(stock)[2]
    item, hub_level = stock[sku]["remote"]["inventory_item_id"], stock[sku]["quantity"]
    hubapi.set_stock(engine, sku, hub_level + 5)
    assert run(engine, "export_stock_levels").counts["updated"] == 1  # pushed, and remembered
    with httpx.Client(base_url=sb.api_url, headers={"X-Shopify-Access-Token": sb.token}) as api:
        api.post("inventory_levels/set.json",  # someone changes it in the store by hand
                 json={"location_id": shop.location, "inventory_item_id": item, "available": 1})

    assert run(engine, "stock_check", "partial").counts["errors"] == 1
    fixed = run(engine, "export_stock_levels")  # what the bell's hint says to do

    assert fixed.counts["updated"] == 1 and sb.inventory(item, shop.location) == hub_level + 5
    assert run(engine, "export_stock_levels").counts["updated"] == 0
    assert run(engine, "stock_check").counts["errors"] == 0


def test_live_shipping_confirmation_creates_one_fulfilment(engine: Engine, sb: ShopifySandbox,
                                                           shop: ShopApi) -> None:
    go_live(engine)
    key = ship_first_order(engine, shop)

    first = run(engine, "shipping_confirmation")
    second = run(engine, "shipping_confirmation")

    assert first.counts["created"] == 1 and second.counts["created"] == 0
    posts = store_writes(sb, FULFILMENTS_PATH)
    assert len(posts) == 1 and posts[0]["status"] == 201
    assert posts[0]["body"]["fulfillment"]["tracking_info"]["number"] == TRACKING
    (fulfilment,) = sb.fulfillments(int(key))
    assert fulfilment["tracking_number"] == TRACKING
    assert fulfilment["tracking_company"] == "DHL Express"  # the hub's 'dhl', in Shopify's name: a tracking link
    assert fulfilment["tracking_url"] == f"https://www.dhl.com/en/express/tracking.html?AWB={TRACKING}&brand=DHL"
    run(engine, "update_orders")
    order = hubapi.get_order(engine, key, integration=SHOP)
    assert order is not None and order["status"] == "shipped"


def test_a_refused_shipment_is_pushed_once_its_cause_is_fixed(engine: Engine, sb: ShopifySandbox,
                                                              shop: ShopApi) -> None:
    go_live(engine)
    key = ship_first_order(engine, shop)
    primary, store = sb.info()["locations"]
    api = httpx.Client(base_url=sb.api_url, headers={"X-Shopify-Access-Token": sb.token})

    def move_to(location: int) -> None:
        for fo in api.get(f"orders/{key}/fulfillment_orders.json").json()["fulfillment_orders"]:
            if fo["status"] == "open":
                moved = api.post(f"fulfillment_orders/{fo['id']}/move.json",
                                 json={"fulfillment_order": {"new_location_id": location}})
                assert moved.status_code == 200, moved.text

    move_to(store)  # the shop assigned the order to its store, not to the warehouse the hub ships from
    refused = run(engine, "shipping_confirmation", "partial")
    assert refused.counts["errors"] == 1 and store_writes(sb, FULFILMENTS_PATH) == []
    (bell,) = [n for n in engine.notifications(integration=SHOP) if n.feed == "shipping_confirmation"]
    assert "move them to it in Shopify" in bell.message

    move_to(primary)  # what the bell asks for
    fixed = run(engine, "shipping_confirmation")
    assert fixed.counts["created"] == 1
    assert [n for n in engine.notifications(integration=SHOP) if n.feed == "shipping_confirmation"] == []
    (fulfilment,) = sb.fulfillments(int(key))
    assert fulfilment["tracking_number"] == TRACKING and fulfilment["location_id"] == primary
    assert run(engine, "shipping_confirmation").counts["created"] == 0
    api.close()


def test_a_shipment_committed_behind_the_cursor_is_still_pushed(engine: Engine, sb: ShopifySandbox,
                                                                 shop: ShopApi, clock: Clock) -> None:
    go_live(engine)
    run(engine, "import_new_orders", "partial")
    first, late = sorted(expected_orders(shop.orders())["imported"])[:2]
    hubapi.create_shipment(engine, first, carrier="dhl", tracking="T-FIRST", integration=SHOP)
    assert run(engine, "shipping_confirmation").counts["created"] == 1

    # A host's transaction stamped its shipment before that run read, and committed after it.
    clock.advance(minutes=-3)
    hubapi.create_shipment(engine, late, carrier="dhl", tracking="T-LATE", integration=SHOP)
    clock.advance(minutes=8)

    again = run(engine, "shipping_confirmation")
    assert again.counts["created"] == 1  # the late one; the first is read again and left alone
    assert [f["tracking_number"] for f in sb.fulfillments(int(late))] == ["T-LATE"]
    assert len(sb.fulfillments(int(first))) == 1 and len(store_writes(sb, FULFILMENTS_PATH)) == 2


def test_a_lost_commit_after_the_push_does_not_fulfil_twice(engine: Engine, sb: ShopifySandbox,
                                                           shop: ShopApi) -> None:
    go_live(engine)
    key = ship_first_order(engine, shop)
    run(engine, "shipping_confirmation")
    # The push reached the store, but the page's transaction (ledger, cursor) is gone.
    for table in ("ce_ledger", "ce_cursors"):
        sql(engine, f"DELETE FROM {table} WHERE integration = :i AND feed = 'shipping_confirmation'", i=SHOP)

    again = run(engine, "shipping_confirmation")

    assert again.counts["read"] == 1 and again.counts["unchanged"] == 1 and again.counts["created"] == 0
    assert len(store_writes(sb, FULFILMENTS_PATH)) == 1
    assert len(sb.fulfillments(int(key))) == 1


#: A process that runs shipping_confirmation and is SIGKILLed the moment the store accepted a fulfilment,
#: before the engine could record it. Its connector is the Shopify one, registered as a plugin would be.
CRASHING_RUN = """
import json, os, signal, sys
import plugins.connect, plugins.shopify
from engine.app import Engine
from engine.hookspecs import hookimpl
from plugins.shopify.connector import ShopifyConnector

class DiesAfterPush(ShopifyConnector):
    name = "shopify-dies-after-push"

    def write(self, resource, records, *, ctx):
        outcomes = super().write(resource, records, ctx=ctx)
        if any(o.action == "created" for o in outcomes):
            print("pushed", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return outcomes

class Plugin:
    @hookimpl
    def register_connectors(self):
        return [DiesAfterPush]

raw, env = json.loads(open(sys.argv[1]).read())
with Engine.from_config(raw, plugins=[plugins.connect, plugins.shopify, Plugin()], env=env) as engine:
    print(engine.run("shipping_confirmation", "demo-shop"), flush=True)
"""


def child_env() -> dict[str, str]:
    """The child's environment: the repository importable, no CONNECT_ENGINE_* setting leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def test_a_process_killed_after_the_push_does_not_fulfil_twice(
        engine: Engine, sb: ShopifySandbox, shop: ShopApi, clock: Clock, tmp_path: Path,
        config: Callable[..., dict[str, Any]]) -> None:
    go_live(engine)
    key = ship_first_order(engine, shop)
    args = tmp_path / "crashing-run.json"
    args.write_text(json.dumps([config(connector="shopify-dies-after-push"), sandbox_env(sb)]), encoding="utf-8")

    child = subprocess.run([sys.executable, "-c", CRASHING_RUN, str(args)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, env=child_env())

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.strip() == "pushed"
    assert len(store_writes(sb, FULFILMENTS_PATH)) == 1
    (dead,) = engine.executions(integration=SHOP, feed="shipping_confirmation")
    assert dead.status == "running"

    clock.advance(seconds=engine.config.lock_lease.total_seconds() + 1)  # the dead process's lease runs out
    assert [r.id for r in engine.reap()] == [dead.id]
    again = run(engine, "shipping_confirmation")

    assert again.counts["unchanged"] == 1 and again.counts["created"] == 0
    assert len(store_writes(sb, FULFILMENTS_PATH)) == 1
    assert len(sb.fulfillments(int(key))) == 1
    assert run(engine, "shipping_confirmation").counts["created"] == 0


def test_stock_check_reports_every_mismatch(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    run(engine, "import_new_products")
    run(engine, "import_stock_levels")
    stock = hub_stock(engine)
    changed = {}
    for sku in sorted(stock)[10:13]:
        item = stock[sku]["remote"]["inventory_item_id"]
        changed[sku] = stock[sku]["available"] + 11
        answer = shop.post("inventory_levels/set.json", {"location_id": shop.location, "inventory_item_id": item,
                                                         "available": changed[sku]})
        assert answer.status_code == 200, answer.text

    info = run(engine, "stock_check", "partial")

    assert info.counts["errors"] == 3 and info.counts["unchanged"] == len(stock) - 3
    notes = [n for n in engine.notifications(integration=SHOP) if n.feed == "stock_check"]
    assert sorted(n.record_label for n in notes) == sorted(changed)
    for note in notes:
        sku = note.record_label
        assert note.message.startswith(f"{sku}: ")
        assert str(changed[sku]) in note.message and str(stock[sku]["available"]) in note.message
    assert {c.name for c in engine.verify(SHOP) if not c.ok} == {STOCK_CLEAN}
