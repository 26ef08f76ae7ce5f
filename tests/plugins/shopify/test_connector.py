"""The Shopify connector against the Shopify sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.connector import Page, RunContext, Services
from engine.errors import (
    AuthError,
    ConfigValidationError,
    FeedDefinitionError,
    RecordError,
    RemoteRejected,
    Severity,
    TransientError,
)
from plugins.shopify.client import Pacer
from plugins.shopify.connector import ShopifyConnector
from plugins.shopify.sandbox import ShopifySandbox
from plugins.shopify.sandbox.state import ACCESS_SCOPES

CTX = RunContext(integration="demo", feed="t")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Shop:
    """A sandbox plus a way to build connectors on it that record their waits instead of sleeping."""

    def __init__(self, sandbox: ShopifySandbox, tmp_path: Path) -> None:
        self.sb = sandbox
        self.tmp_path = tmp_path
        self.waits: list[float] = []

    def connector(self, **settings: Any) -> ShopifyConnector:
        values = {"shop_url": self.sb.url, "access_token": self.sb.token, **settings}
        conn = ShopifyConnector("demo", values, Services(sessions=None, clock=utcnow, data_dir=self.tmp_path))
        conn.sleep = self.waits.append
        return conn


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with ShopifySandbox(products=50, orders=30, seed=1, rate_limit=False) as sb:
        yield Shop(sb, tmp_path)


def read_all(conn: ShopifyConnector, resource: str, cursor: Any = None, **params: Any) -> list[Page]:
    with conn:
        return list(conn.read(resource, cursor=cursor, ctx=RunContext(integration="demo", feed="t", params=params)))


def fetch(conn: ShopifyConnector, resource: str, keys: list[Any]) -> list[dict[str, Any]]:
    with conn:
        return list(conn.fetch(resource, [str(k) for k in keys], ctx=CTX))


def ids(pages: list[Page]) -> list[int]:
    return [r["id"] for p in pages for r in p.records]


def all_product_ids(shop: Shop) -> list[int]:
    return ids(read_all(shop.connector(), "products"))


# -- reading --------------------------------------------------------------------------------


def test_products_page_through_every_status_in_id_order(shop: Shop) -> None:
    pages = read_all(shop.connector(page_size=7), "products")
    got = ids(pages)
    assert len(pages) == 8
    assert len(got) == 50 and got == sorted(set(got))
    assert {p.total for p in pages} == {50}
    statuses = {r["status"] for p in pages for r in p.records}
    assert statuses == {"active", "draft", "archived"}
    assert all(len(r["variants"]) >= 1 for p in pages for r in p.records)
    assert "run" in pages[0].cursor and "run" not in pages[-1].cursor
    assert shop.sb.stats()["by_status"] == {"200": 9}  # 8 pages + the count


def test_products_cursor_resumes_after_a_crash_without_loss_or_duplicates(shop: Shop) -> None:
    expected = all_product_ids(shop)
    conn = shop.connector(page_size=6)
    with conn:
        pages = conn.read("products", cursor=None, ctx=CTX)
        before = [next(pages) for _ in range(3)]  # the run dies after committing page 3
        pages.close()
    crashed_at = before[-1].cursor
    edited = before[0].records[0]["id"]
    shop.sb.edit_product(edited, title="Changed after the crash")

    after = read_all(shop.connector(page_size=6), "products", crashed_at)
    assert ids(before) + ids(after) == expected
    final = after[-1].cursor
    assert set(final) == {"field", "since", "run_start"}
    assert final["run_start"] == crashed_at["run"]["start"]

    # The product edited mid-run is picked up by the next incremental run.
    again = read_all(shop.connector(), "products", final)
    assert ids(again) == [edited]
    assert again[0].records[0]["title"] == "Changed after the crash"


def test_incremental_read_returns_only_the_changed_product(shop: Shop) -> None:
    first = read_all(shop.connector(page_size=20), "products")
    cursor = first[-1].cursor
    target = first[1].records[3]
    shop.sb.edit_product(target["id"], title="New title")
    pages = read_all(shop.connector(page_size=20), "products", cursor)
    assert ids(pages) == [target["id"]]
    assert pages[0].records[0]["title"] == "New title"
    assert pages[0].total == 1


def test_new_products_follow_created_at(shop: Shop) -> None:
    first = read_all(shop.connector(), "products", cursor_field="created_at")
    assert first[-1].cursor["field"] == "created_at"
    shop.sb.edit_product(first[0].records[0]["id"], title="edited, not new")
    added = shop.sb.add_product(title="Brand new")
    pages = read_all(shop.connector(), "products", first[-1].cursor, cursor_field="created_at")
    assert ids(pages) == [added["id"]]


def test_unknown_cursor_field_is_a_feed_error(shop: Shop) -> None:
    with pytest.raises(FeedDefinitionError, match="use one of: updated_at, created_at"):
        read_all(shop.connector(), "products", cursor_field="published_at")


def test_orders_include_cancelled_and_closed(shop: Shop) -> None:
    first = read_all(shop.connector(), "orders")
    orders = [r for p in first for r in p.records]
    assert len(orders) == 30 and first[0].total == 30
    assert any(o["cancelled_at"] for o in orders)
    victim = next(o for o in orders if not o["cancelled_at"])
    shop.sb.cancel_order(victim["id"], reason="fraud")
    pages = read_all(shop.connector(), "orders", first[-1].cursor)
    assert ids(pages) == [victim["id"]]
    assert pages[0].records[0]["cancel_reason"] == "fraud"


def test_product_images_carry_their_skus(shop: Shop) -> None:
    pages = read_all(shop.connector(page_size=10), "product_images")
    images = [r for p in pages for r in p.records]
    assert images and len({i["id"] for i in images}) == len(images)
    sample = images[0]
    assert set(sample) >= {"id", "product_id", "src", "position", "variant_ids", "alt", "width", "height", "skus"}
    [product] = fetch(shop.connector(), "products", [sample["product_id"]])
    assert sample["skus"] == [v["sku"] for v in product["variants"]]
    fetched = fetch(shop.connector(page_size=10), "product_images", [images[-1]["id"]])
    assert fetched == [images[-1]]


def test_locations_and_inventory_levels_at_the_primary_location(shop: Shop) -> None:
    locations = [r for p in read_all(shop.connector(), "locations") for r in p.records]
    primary = shop.sb.info()["primary_location_id"]
    assert [loc["id"] for loc in locations][0] == primary
    shop.sb.reset_stats()
    pages = read_all(shop.connector(page_size=9), "inventory_levels")
    levels = [r for p in pages for r in p.records]
    variants = shop.sb.info()["variants"]
    assert len(levels) == variants and len({lvl["inventory_item_id"] for lvl in levels}) == variants
    assert {lvl["location_id"] for lvl in levels} == {primary}
    one = levels[5]
    assert one["available"] == shop.sb.inventory(one["inventory_item_id"], primary)
    assert all(lvl["sku"] and lvl["variant_id"] and lvl["product_id"] for lvl in levels)
    assert pages[0].total == variants
    assert all(isinstance(p.cursor["page_info"], str) for p in pages[:-1]) and pages[-1].cursor == {"page_info": None}
    # the products' variants, then the location's levels a page at a time: no request per item
    by_route = shop.sb.stats()["by_route"]
    assert by_route["GET /admin/api/{version}/inventory_levels.json"] == -(-variants // 9)
    assert "GET /admin/api/{version}/inventory_items.json" not in by_route


def test_a_level_of_an_item_created_during_the_read_gets_its_sku_by_id(shop: Shop) -> None:
    primary = shop.sb.info()["primary_location_id"]
    with shop.connector(page_size=9) as conn:
        pages = conn.read("inventory_levels", cursor=None, ctx=CTX)
        first = next(pages)  # every product's variants are read by now
        added = shop.sb.add_product(title="Late arrival")
        rest = [r for p in pages for r in p.records]
    late = [r for r in rest if r["product_id"] is None]
    assert [r["sku"] for r in late] == [v["sku"] for v in added["variants"]]
    assert {r["location_id"] for r in late} == {primary} and all(r["available"] is not None for r in late)
    assert len(first.records) + len(rest) == shop.sb.info()["variants"]


def test_fetch_by_ids_in_chunks(tmp_path: Path) -> None:
    with ShopifySandbox(products=260, orders=5, seed=2, rate_limit=False) as sb:
        shop = Shop(sb, tmp_path)
        every = all_product_ids(shop)
        conn = shop.connector()
        with conn:
            got = [p["id"] for p in conn.fetch("products", [str(i) for i in every] + ["1"], ctx=CTX)]
            orders = list(conn.fetch("orders", [str(o) for o in (5_600_000_000_000, 1)], ctx=CTX))
        assert sorted(got) == every
        assert [o["id"] for o in orders] == [5_600_000_000_000]
        routes = sb.stats()["by_route"]
        assert routes["GET /admin/api/{version}/products.json"] == 2 + 2  # read: 2 pages; fetch: 2 chunks


def test_fetch_orders_sees_cancelled_ones(shop: Shop) -> None:
    orders = [r for p in read_all(shop.connector(), "orders") for r in p.records]
    cancelled = [str(o["id"]) for o in orders if o["cancelled_at"]]
    with shop.connector() as conn:
        got = [o["id"] for o in conn.fetch("orders", cancelled, ctx=CTX)]
    assert sorted(str(i) for i in got) == sorted(cancelled)


# -- failures -------------------------------------------------------------------------------


def test_wrong_token_is_an_auth_error_with_shopify_text(shop: Shop) -> None:
    conn = shop.connector(access_token="shpat_wrong")
    with pytest.raises(AuthError) as info:
        read_all(conn, "products")
    assert info.value.status == 401
    assert "Invalid API key or access token" in info.value.message
    assert "shpat_wrong" not in info.value.message
    with shop.connector(access_token="shpat_wrong") as conn:
        checks = conn.checks(CTX)
    assert [c.ok for c in checks] == [False]
    assert shop.waits == []  # never retried


def test_429_storm_is_waited_out_as_retry_after_says(shop: Shop) -> None:
    expected = all_product_ids(shop)
    shop.sb.set_faults(storm_429=12)
    pages = read_all(shop.connector(page_size=10, max_retries=1), "products")
    assert ids(pages) == expected
    assert shop.waits == [2.0] * 12
    assert shop.sb.stats()["faults"]["served"]["storm_429"] == 12


def test_5xx_truncated_bodies_and_timeouts_are_retried(shop: Shop) -> None:
    expected = all_product_ids(shop)
    shop.sb.set_faults(error_rate=0.2, error_status=503, truncate_rate=0.15, timeout_rate=0.1,
                       timeout_s=2.0, seed=7)
    pages = read_all(shop.connector(page_size=5, timeout_seconds=0.5, max_retries=8), "products")
    assert ids(pages) == expected
    served = shop.sb.stats()["faults"]["served"]
    assert served["error"] and served["truncate"] and served["timeout"]
    assert len(shop.waits) >= served["error"] + served["truncate"] + served["timeout"]
    assert all(0 < w <= 30 for w in shop.waits)


def test_retries_are_bounded(shop: Shop) -> None:
    shop.sb.set_faults(error_rate=1.0, error_status=502)
    with pytest.raises(TransientError) as info:
        read_all(shop.connector(max_retries=2), "products")
    assert info.value.severity is Severity.RETRY
    assert info.value.status == 502
    assert len(shop.waits) == 2


def test_pacer_waits_for_the_bucket_to_leak() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = Pacer(2.0, sleep=sleep, monotonic=lambda: now[0])
    request = httpx.Request("GET", "https://s.example/admin/api/2024-07/products.json")
    assert pacer.wait() == 0.0
    pacer.observe(httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "20/40"}, request=request))
    assert pacer.wait() == 0.0
    pacer.observe(httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "39/40"}, request=request))
    assert pacer.wait() == pytest.approx(2.0)  # 39 -> 35 leaves room for one more below 37
    now[0] += 10
    pacer.observe(httpx.Response(200, headers={"X-Shopify-Shop-Api-Call-Limit": "40/40"}, request=request))
    now[0] += 1.0  # time spent elsewhere counts as leaking
    assert pacer.wait() == pytest.approx(1.5)
    assert waits == [pytest.approx(2.0), pytest.approx(1.5)]


def test_pacer_reads_the_call_limit_header_of_a_rate_limited_shop(tmp_path: Path) -> None:
    with ShopifySandbox(products=50, orders=1, seed=1, rate_limit=True) as sb:
        shop = Shop(sb, tmp_path)
        conn = shop.connector(page_size=10)
        with conn:
            pages = list(conn.read("products", cursor=None, ctx=CTX))
            pacer = conn.client.pacer
            assert (pacer.used, pacer.size) == (conn.client.requests, 40)
        assert len(ids(pages)) == 50 and shop.waits == []


def test_plugin_registers_the_connector_and_its_sandbox() -> None:
    import jsonschema

    import plugins.shopify
    from engine.plugins import Hooks, build_manager

    hooks = Hooks(build_manager(plugins=[plugins.shopify]))
    assert hooks.connectors() == {"shopify": ShopifyConnector}
    spec = hooks.sandboxes()["shopify"]
    assert callable(spec.main) and "Shopify" in spec.description
    jsonschema.Draft202012Validator.check_schema(ShopifyConnector.settings_schema)
    assert ShopifyConnector.settings_schema["additionalProperties"] is False


def test_settings_are_validated_without_quoting_the_token(tmp_path: Path) -> None:
    services = Services(sessions=None, clock=utcnow, data_dir=tmp_path)
    with pytest.raises(ConfigValidationError) as info:
        ShopifyConnector("demo", {"shop_url": "shop.myshopify.com", "access_token": 12345,
                                  "page_size": 500, "colour": "red"}, services)
    text = info.value.render()
    assert "page_size" in text and "colour" in text and "shop_url" in text and "access_token" in text
    assert "12345" not in text


# -- writing --------------------------------------------------------------------------------


def test_inventory_write_sets_available_and_rejects_one_record_alone(shop: Shop) -> None:
    primary = shop.sb.info()["primary_location_id"]
    levels = [r for p in read_all(shop.connector(), "inventory_levels") for r in p.records]
    a, b = levels[0]["inventory_item_id"], levels[1]["inventory_item_id"]
    records = [{"inventory_item_id": a, "available": 77},
               {"inventory_item_id": 999, "available": 5},
               {"inventory_item_id": b, "available": 0, "location_id": primary}]
    with shop.connector() as conn:
        outcomes = conn.write("inventory_levels", records, ctx=CTX)
    assert [o.action for o in outcomes] == ["updated", "error", "updated"]
    assert [o.key for o in outcomes] == [str(a), "999", str(b)]
    assert outcomes[0].remote_id == str(a)
    err = outcomes[1].error
    assert isinstance(err, RemoteRejected) and err.status == 422
    assert "Inventory item 999 does not exist" in err.message
    assert shop.sb.inventory(a, primary) == 77 and shop.sb.inventory(b, primary) == 0
    fetched = fetch(shop.connector(), "inventory_levels", [a])
    assert fetched[0]["available"] == 77 and fetched[0]["sku"] == levels[0]["sku"]


def test_levels_fetched_by_item_ask_for_a_hundred_items_and_fifty_levels_a_request(tmp_path: Path) -> None:
    with ShopifySandbox(products=80, orders=0, seed=1, rate_limit=False) as sb:
        _levels_fetched_by_item(Shop(sb, tmp_path))


def _levels_fetched_by_item(shop: Shop) -> None:
    levels = {r["inventory_item_id"]: r for p in read_all(shop.connector(), "inventory_levels") for r in p.records}
    wanted = sorted(levels)[:101]
    assert len(wanted) == 101
    shop.sb.reset_stats()
    fetched = fetch(shop.connector(), "inventory_levels", wanted)
    assert sorted(r["inventory_item_id"] for r in fetched) == wanted
    assert all(r["sku"] == levels[r["inventory_item_id"]]["sku"] for r in fetched)
    by_route = shop.sb.stats()["by_route"]
    assert by_route.get("GET /admin/api/{version}/inventory_items.json") == 2  # Shopify's limit: 100 ids
    assert by_route.get("GET /admin/api/{version}/inventory_levels.json") == 3  # 50 + 50, then 1 (50 items)


def test_inventory_write_bad_record_fails_alone_before_any_request(shop: Shop) -> None:
    with shop.connector() as conn:
        outcomes = conn.write("inventory_levels", [{"inventory_item_id": "x", "available": 1}], ctx=CTX)
    assert outcomes[0].action == "error" and isinstance(outcomes[0].error, RecordError)
    assert shop.sb.writes() == []


def open_order(shop: Shop) -> dict[str, Any]:
    return shop.sb.add_order(financial_status="paid")


def fulfillment_posts(shop: Shop) -> list[dict[str, Any]]:
    return [w for w in shop.sb.writes() if w["path"].endswith("/fulfillments.json") and w["method"] == "POST"]


def test_fulfillment_is_pushed_once(shop: Shop) -> None:
    order = open_order(shop)
    record = {"order_id": order["id"], "tracking_number": "1Z999", "tracking_company": "UPS"}
    with shop.connector() as conn:
        first = conn.write("fulfillments", [record], ctx=CTX)
    with shop.connector() as conn:  # a re-run after a crash that lost the first outcome
        second = conn.write("fulfillments", [record], ctx=CTX)
    assert first[0].action == "created" and first[0].key == str(order["id"])
    assert second[0].action == "unchanged" and second[0].remote_id == first[0].remote_id
    assert len(fulfillment_posts(shop)) == 1
    pushed = shop.sb.fulfillments(order["id"])
    assert [f["tracking_number"] for f in pushed] == ["1Z999"]
    assert pushed[0]["tracking_url"].startswith("https://www.ups.com/")
    fetched = fetch(shop.connector(), "fulfillments", [order["id"], 42, "not-an-id"])
    assert [f["id"] for f in fetched] == [int(first[0].remote_id)]


def test_fulfillment_of_chosen_lines_by_sku(shop: Shop) -> None:
    order = open_order(shop)
    line = order["line_items"][0]
    record = {"order_id": order["id"], "tracking_number": "TRK-1", "tracking_company": "DHL Express",
              "lines": [{"sku": line["sku"], "quantity": 1}], "notify_customer": True}
    with shop.connector() as conn:
        outcome = conn.write("fulfillments", [record], ctx=CTX)[0]
    assert outcome.action == "created", outcome.error
    body = fulfillment_posts(shop)[0]["body"]["fulfillment"]
    assert body["notify_customer"] is True
    assert body["tracking_info"] == {"number": "TRK-1", "company": "DHL Express"}
    [group] = body["line_items_by_fulfillment_order"]
    assert [item["quantity"] for item in group["fulfillment_order_line_items"]] == [1]


def test_fulfillment_of_a_cancelled_order_is_rejected_with_a_clear_message(shop: Shop) -> None:
    order = open_order(shop)
    shop.sb.cancel_order(order["id"])
    with shop.connector() as conn:
        [outcome] = conn.write("fulfillments", [{"order_id": order["id"], "tracking_number": "T-9",
                                                 "tracking_company": "UPS"}], ctx=CTX)
    assert outcome.action == "error" and isinstance(outcome.error, RemoteRejected)
    assert "no open fulfillment order" in outcome.error.message and "closed" in outcome.error.message
    assert fulfillment_posts(shop) == []


def move_to_store(shop: Shop, order: dict[str, Any], lines: list[dict[str, Any]] | None = None) -> None:
    """Assign (some of) the order's fulfillment order to the shop's second location, through the API."""
    other = shop.sb.info()["locations"][1]
    [fo] = [f for f in shop.sb.state.book.fulfillment_orders(order["id"])]
    spec: dict[str, Any] = {"new_location_id": other}
    if lines is not None:
        spec["fulfillment_order_line_items"] = lines
    answer = httpx.post(f"{shop.sb.api_url}/fulfillment_orders/{fo['id']}/move.json",
                        headers={"X-Shopify-Access-Token": shop.sb.token}, json={"fulfillment_order": spec})
    assert answer.status_code == 200, answer.text


def test_fulfillment_of_an_order_assigned_to_another_location_is_refused_before_sending(shop: Shop) -> None:
    order = open_order(shop)
    move_to_store(shop, order)
    with shop.connector() as conn:
        [outcome] = conn.write("fulfillments", [{"order_id": order["id"], "tracking_number": "T-L",
                                                 "tracking_company": "UPS"}], ctx=CTX)
    assert outcome.action == "error" and isinstance(outcome.error, RemoteRejected)
    assert "assigned to location" in outcome.error.message and "'Downtown Store'" in outcome.error.message
    assert "move them to it in Shopify" in outcome.error.message
    assert fulfillment_posts(shop) == []


def test_a_split_order_ships_only_what_is_at_the_managed_location(shop: Shop) -> None:
    order = shop.sb.add_order(financial_status="paid")
    while len(order["line_items"]) < 2:
        order = shop.sb.add_order(financial_status="paid")
    here, there = order["line_items"][0], order["line_items"][1]
    [fo] = shop.sb.state.book.fulfillment_orders(order["id"])
    fo_line = next(li for li in fo["line_items"] if li["line_item_id"] == there["id"])
    move_to_store(shop, order, [{"id": fo_line["id"], "quantity": fo_line["quantity"]}])
    whole = {"order_id": order["id"], "tracking_number": "T-W", "tracking_company": "UPS"}
    mine = {**whole, "tracking_number": "T-H", "lines": [{"sku": here["sku"], "quantity": here["quantity"]}]}
    theirs = {**whole, "tracking_number": "T-T", "lines": [{"sku": there["sku"], "quantity": 1}]}
    with shop.connector() as conn:
        outcomes = conn.write("fulfillments", [whole, theirs, mine], ctx=CTX)
    assert [o.action for o in outcomes] == ["error", "error", "created"], [o.error for o in outcomes]
    assert "not to the managed location" in outcomes[0].error.message  # type: ignore[union-attr]
    assert "'Downtown Store'" in outcomes[1].error.message  # type: ignore[union-attr]
    assert "at the managed location" in outcomes[1].error.message  # type: ignore[union-attr]
    [post] = fulfillment_posts(shop)
    assert post["status"] == 201
    primary = shop.sb.info()["primary_location_id"]
    [pushed] = shop.sb.fulfillments(order["id"])
    assert pushed["location_id"] == primary and pushed["tracking_number"] == "T-H"


def test_fulfillment_of_an_unknown_sku_fails_alone(shop: Shop) -> None:
    order = open_order(shop)
    good = {"order_id": order["id"], "tracking_number": "OK-1", "tracking_company": "UPS"}
    bad = {**good, "tracking_number": "BAD-1", "lines": [{"sku": "NOPE", "quantity": 1}]}
    with shop.connector() as conn:
        outcomes = conn.write("fulfillments", [bad, good], ctx=CTX)
    assert [o.action for o in outcomes] == ["error", "created"]
    assert "'NOPE' is not on the order" in outcomes[0].error.message  # type: ignore[union-attr]


def test_fulfillment_of_an_unknown_order_fails_alone(shop: Shop) -> None:
    order = open_order(shop)
    records = [{"order_id": 42, "tracking_number": "X-1", "tracking_company": "UPS"},
               {"order_id": order["id"], "tracking_number": "X-2", "tracking_company": "UPS"}]
    with shop.connector() as conn:
        outcomes = conn.write("fulfillments", records, ctx=CTX)
    assert [o.action for o in outcomes] == ["error", "created"]
    err = outcomes[0].error
    assert isinstance(err, RemoteRejected) and err.status == 404
    assert "order 42 does not exist in Shopify" in err.message


# -- go-live --------------------------------------------------------------------------------


def test_checks(shop: Shop) -> None:
    with shop.connector() as conn:
        checks = {c.name: c for c in conn.checks(CTX)}
    assert all(c.ok for c in checks.values()), checks
    assert "Main Warehouse" in checks["location"].detail and "1 other active location" in checks["location"].detail
    assert checks["order history"].detail == "the token reads every order"
    with shop.connector(location_id=1) as conn:
        bad = {c.name: c for c in conn.checks(CTX)}
    assert not bad["location"].ok and "71234567001" in bad["location"].detail


@pytest.mark.parametrize("scopes, ok", [
    (ACCESS_SCOPES, True),
    ([s for s in ACCESS_SCOPES if s != "write_merchant_managed_fulfillment_orders"], False),  # write_fulfillments alone
    (["write_inventory", "write_assigned_fulfillment_orders"], False),  # a fulfillment service app's scope
    (["write_inventory", "write_merchant_managed_fulfillment_orders"], True),
])
def test_the_write_check_asks_for_the_scope_that_fulfils_the_managed_location(
        shop: Shop, scopes: list[str], ok: bool) -> None:
    shop.sb.set_scopes(list(scopes))
    with shop.connector() as conn:
        checks = {c.name: c for c in conn.checks(CTX)}
    assert checks["write access"].ok is ok
    if not ok:
        assert "lacks write_merchant_managed_fulfillment_orders" in checks["write access"].detail
    history = checks["order history"]
    assert history.ok and ("60 days" in history.detail) is ("read_all_orders" not in scopes)


def test_a_fulfillment_service_location_is_never_the_default(shop: Shop) -> None:
    with shop.sb.state.lock:
        first, second = shop.sb.state.locations
        first["legacy"] = True  # the first location now belongs to a fulfillment service
    with shop.connector() as conn:
        assert conn.location_id() == second["id"]
        checks = {c.name: c for c in conn.checks(CTX)}
    assert "Downtown Store" in checks["location"].detail and "other active" not in checks["location"].detail
    shop.sb.set_scopes(["write_inventory", "write_merchant_managed_fulfillment_orders"])
    with shop.connector(location_id=first["id"]) as conn:  # chosen on purpose: its own scope is needed
        checks = {c.name: c for c in conn.checks(CTX)}
    assert checks["location"].ok and not checks["write access"].ok
    assert "lacks write_third_party_fulfillment_orders" in checks["write access"].detail


def test_a_version_shopify_no_longer_serves_is_named_once(shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    with shop.connector() as conn:
        checks = {c.name: c for c in conn.checks(CTX)}
    assert checks["api version"].detail == "Shopify answers API version 2024-07"
    with caplog.at_level("WARNING", logger="plugins.shopify.client"), shop.connector(api_version="2023-10") as conn:
        pages = list(conn.read("products", cursor=None, ctx=RunContext(integration="demo", feed="t")))
        checks = {c.name: c for c in conn.checks(CTX)}
    assert sum(len(p.records) for p in pages) == 50  # served all the same, by the oldest supported version
    warned = [r.getMessage() for r in caplog.records if "API version" in r.getMessage()]
    assert len(warned) == 1 and "served API version 2024-01, not the 2023-10" in warned[0]
    assert checks["api version"].ok and "answers with API version 2024-01, not 2023-10" in checks["api version"].detail
