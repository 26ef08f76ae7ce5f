"""End-to-end tests of the Shopify sandbox over real HTTP."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from plugins.shopify.sandbox import ShopifySandbox

TOKEN = "shpat_sandbox"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sb() -> Iterator[ShopifySandbox]:
    with ShopifySandbox(products=60, orders=40, seed=1, rate_limit=False) as sandbox:
        yield sandbox


@pytest.fixture
def control(sb: ShopifySandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sb.url}/__sandbox", timeout=10) as client:
        yield client


def walk(api: httpx.Client, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Follow rel="next" links from a first request; return every record and response."""
    key = path.split("/")[-1].removesuffix(".json")
    records, responses = [], []
    response = api.get(path, params=params)
    while True:
        assert response.status_code == 200, response.text
        responses.append(response)
        records.extend(response.json()[key])
        if "next" not in response.links:
            return records, responses
        response = api.get(response.links["next"]["url"])


def open_unfulfilled_order(api: httpx.Client) -> dict[str, Any]:
    orders = api.get("orders.json", params={"financial_status": "paid", "fulfillment_status": "unshipped",
                                            "limit": 250}).json()["orders"]
    return orders[0]


# -- auth, limits, errors ----------------------------------------------------------------------
def test_wrong_or_missing_token_is_401_with_shopify_body(sb: ShopifySandbox) -> None:
    for headers in ({}, {"X-Shopify-Access-Token": "shpat_wrong"}):
        response = httpx.get(f"{sb.api_url}/products.json", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        assert response.headers["X-Shopify-Shop-Api-Call-Limit"].endswith("/40")


def test_leaky_bucket_answers_429_with_retry_after_and_call_limit() -> None:
    with ShopifySandbox(products=3, orders=1, rate_limit=True) as sandbox, httpx.Client(
            base_url=sandbox.api_url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        first = client.get("shop.json")
        assert first.headers["X-Shopify-Shop-Api-Call-Limit"] == "1/40"
        statuses = [client.get("shop.json") for _ in range(80)]
        throttled = [r for r in statuses if r.status_code == 429]
        assert throttled, "the bucket never filled"
        assert throttled[0].headers["Retry-After"] == "2.0"
        assert throttled[0].json()["errors"].startswith("Exceeded 2 calls per second for api client.")
        assert sandbox.stats()["throttled_429"] == len(throttled)
        sandbox.set_rate_limit(False)
        assert all(client.get("shop.json").status_code == 200 for _ in range(50))


def test_unknown_paths_and_ids_are_404_and_bad_json_is_400(api: httpx.Client) -> None:
    assert api.get("nothing_here.json").json() == {"errors": "Not Found"}
    assert api.get("products/1.json").status_code == 404
    assert api.get("orders/1.json").status_code == 404
    bad = api.post("inventory_levels/set.json", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert "body" in bad.json()["errors"]


# -- pagination ---------------------------------------------------------------------------------
def test_pagination_walks_all_products_with_link_headers(api: httpx.Client) -> None:
    products, responses = walk(api, "products.json", {"limit": 25})
    ids = [p["id"] for p in products]
    assert len(responses) == 3
    assert ids == sorted(set(ids))
    assert len(ids) == api.get("products/count.json").json()["count"] == 60
    assert set(responses[0].links) == {"next"}
    assert set(responses[1].links) == {"previous", "next"}
    assert set(responses[2].links) == {"previous"}
    next_url = httpx.URL(responses[0].links["next"]["url"])
    assert set(next_url.params) == {"limit", "page_info"}
    back = api.get(responses[2].links["previous"]["url"]).json()["products"]
    assert [p["id"] for p in back] == ids[25:50]
    whole = api.get("products.json", params={"limit": 250})
    assert "link" not in whole.headers
    assert len(whole.json()["products"]) == 60
    assert len(api.get("products.json").json()["products"]) == 50  # default limit


def test_page_info_may_only_carry_limit_and_fields_and_keeps_filters(api: httpx.Client) -> None:
    first = api.get("products.json", params={"limit": 5, "status": "active", "fields": "id,status"})
    url = httpx.URL(first.links["next"]["url"])
    assert url.params["fields"] == "id,status"
    rejected = api.get(url.copy_add_param("status", "draft"))
    assert rejected.status_code == 400
    assert rejected.json()["errors"] == {"status": "status cannot be passed when page_info is present. See "
                                                   "https://help.shopify.com/api/guides/paginated-rest-results "
                                                   "for more information."}
    assert api.get(url.copy_set_param("page_info", "garbage")).status_code == 400
    active, _ = walk(api, "products.json", {"limit": 5, "status": "active", "fields": "id,status"})
    assert active
    assert all(p == {"id": p["id"], "status": "active"} for p in active)
    assert len(active) == api.get("products/count.json", params={"status": "active"}).json()["count"]


def test_limit_is_clamped_to_250_and_must_be_an_integer() -> None:
    with ShopifySandbox(products=260, orders=0, rate_limit=False) as sandbox, httpx.Client(
            base_url=sandbox.api_url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        assert len(client.get("products.json", params={"limit": 1000}).json()["products"]) == 250
        assert client.get("products.json", params={"limit": "lots"}).status_code == 400


# -- products and filters -----------------------------------------------------------------------
def test_products_look_like_shopify(api: httpx.Client) -> None:
    products = api.get("products.json", params={"limit": 250}).json()["products"]
    variants = [v for p in products for v in p["variants"]]
    assert {len(p["variants"]) for p in products} == {1, 2, 3}
    assert {p["status"] for p in products} >= {"active", "draft"}
    assert len({v["sku"] for v in variants}) == len(variants)
    assert any(v["barcode"] is None for v in variants)
    for v in variants:
        assert v["inventory_management"] == "shopify"
        assert "." in v["price"]
        if v["barcode"]:
            digits = [int(d) for d in v["barcode"]]
            assert len(digits) == 13
            assert sum(d * (3 if n % 2 else 1) for n, d in enumerate(digits)) % 10 == 0
    p = products[0]
    assert p["admin_graphql_api_id"] == f"gid://shopify/Product/{p['id']}"
    assert p["created_at"].endswith("-05:00")
    assert p["updated_at"] >= p["created_at"]
    single = api.get(f"products/{p['id']}.json").json()["product"]
    assert single == p
    assert api.get(f"products/{p['id']}.json", params={"fields": "id,title"}).json() == {
        "product": {"id": p["id"], "title": p["title"]}}
    assert api.get(f"products/{p['id']}/images.json").json()["images"] == p["images"]


def test_updated_at_min_sees_only_edits(sb: ShopifySandbox, api: httpx.Client) -> None:
    products = api.get("products.json", params={"limit": 250}).json()["products"]
    newest = max(p["updated_at"] for p in products)
    later = "2025-06-01T00:00:00Z"
    assert api.get("products.json", params={"updated_at_min": later}).json()["products"] == []
    target = products[7]
    variant = target["variants"][0]
    sb.edit_product(target["id"], title="Renamed", variants={variant["id"]: {"barcode": "4006381333931"}})
    changed = api.get("products.json", params={"updated_at_min": later}).json()["products"]
    assert [p["id"] for p in changed] == [target["id"]]
    assert changed[0]["title"] == "Renamed"
    assert changed[0]["variants"][0]["barcode"] == "4006381333931"
    assert changed[0]["updated_at"] > newest
    assert sb.touch_products(pct=10) == 6
    assert api.get("products/count.json", params={"updated_at_min": later}).json()["count"] >= 6
    since = api.get("products.json", params={"since_id": products[57]["id"]}).json()["products"]
    assert [p["id"] for p in since] == [p["id"] for p in products[58:]]
    some = api.get("products.json", params={"ids": f"{products[3]['id']},{products[1]['id']}"}).json()
    assert [p["id"] for p in some["products"]] == [products[1]["id"], products[3]["id"]]


# -- orders -------------------------------------------------------------------------------------
def test_order_status_defaults_to_open(sb: ShopifySandbox, api: httpx.Client) -> None:
    every, _ = walk(api, "orders.json", {"status": "any", "limit": 15})
    assert len(every) == 40 == api.get("orders/count.json", params={"status": "any"}).json()["count"]
    default = api.get("orders.json", params={"limit": 250}).json()["orders"]
    assert default
    assert all(o["cancelled_at"] is None and o["closed_at"] is None for o in default)
    cancelled = api.get("orders.json", params={"status": "cancelled"}).json()["orders"]
    assert cancelled
    assert all(o["cancelled_at"] and o["cancel_reason"] for o in cancelled)
    closed = api.get("orders.json", params={"status": "closed"}).json()["orders"]
    assert len(default) + len(cancelled) + len(closed) == 40
    assert [o["name"] for o in every[:2]] == ["#1001", "#1002"]


def test_financial_and_fulfillment_status_filters(api: httpx.Client) -> None:
    every = api.get("orders.json", params={"status": "any", "limit": 250}).json()["orders"]
    statuses = [o["financial_status"] for o in every]
    assert set(statuses) == {"pending", "authorized", "partially_paid", "paid", "partially_refunded",
                             "refunded", "voided"}
    assert statuses.count("paid") > len(statuses) / 2

    def ids(**params: str) -> set[int]:
        found = api.get("orders.json", params={"status": "any", "limit": 250, **params}).json()["orders"]
        return {o["id"] for o in found}

    assert ids(financial_status="paid") == {o["id"] for o in every if o["financial_status"] == "paid"}
    assert ids(financial_status="unpaid") == {
        o["id"] for o in every if o["financial_status"] in ("authorized", "partially_paid")}
    assert ids(financial_status="any") == {o["id"] for o in every}
    assert ids(fulfillment_status="shipped") == {o["id"] for o in every if o["fulfillment_status"] == "fulfilled"}
    assert ids(fulfillment_status="unfulfilled") == {
        o["id"] for o in every if o["fulfillment_status"] in (None, "partial")}
    assert api.get("orders.json", params={"financial_status": "free"}).status_code == 400


def test_orders_reference_real_variants_and_shipping_codes(api: httpx.Client) -> None:
    every = api.get("orders.json", params={"status": "any", "limit": 250}).json()["orders"]
    codes = {o["shipping_lines"][0]["code"] for o in every}
    assert "Carrier Pigeon" in codes
    assert codes & {"Standard", "Express", "DHL Express", "UPS Ground"}
    line = every[0]["line_items"][0]
    variant = api.get(f"variants/{line['variant_id']}.json").json()["variant"]
    assert (variant["sku"], variant["product_id"], variant["price"]) == (line["sku"], line["product_id"], line["price"])
    order = every[5]
    assert api.get(f"orders/{order['id']}.json").json()["order"] == order
    assert order["customer"]["email"] == order["email"]
    assert order["shipping_address"]["country_code"]


# -- inventory ----------------------------------------------------------------------------------
def test_inventory_set_is_reflected_everywhere(sb: ShopifySandbox, api: httpx.Client) -> None:
    locations = api.get("locations.json").json()["locations"]
    assert len(locations) == 2
    assert locations[0]["active"]
    primary, second = (loc["id"] for loc in locations)
    product = api.get("products.json", params={"limit": 1}).json()["products"][0]
    item = product["variants"][0]["inventory_item_id"]
    for loc, available in ((primary, 7), (second, 5)):
        answer = api.post("inventory_levels/set.json",
                          json={"location_id": loc, "inventory_item_id": item, "available": available})
        assert answer.status_code == 200
        assert answer.json()["inventory_level"]["available"] == available
    levels = api.get("inventory_levels.json", params={"inventory_item_ids": item}).json()["inventory_levels"]
    assert {(lv["location_id"], lv["available"]) for lv in levels} == {(primary, 7), (second, 5)}
    again = api.get(f"products/{product['id']}.json").json()["product"]
    assert again["variants"][0]["inventory_quantity"] == 12
    assert again["updated_at"] > product["updated_at"]
    assert sb.inventory(item, second) == 5
    items = api.get("inventory_items.json", params={"ids": item}).json()["inventory_items"]
    assert items[0]["sku"] == product["variants"][0]["sku"]
    assert [w["path"] for w in sb.writes()] == ["/admin/api/2024-07/inventory_levels/set.json"] * 2
    assert sb.writes()[0]["body"] == {"location_id": primary, "inventory_item_id": item, "available": 7}


def test_inventory_errors(api: httpx.Client) -> None:
    primary = api.get("locations.json").json()["locations"][0]["id"]
    item = api.get("products.json", params={"limit": 1}).json()["products"][0]["variants"][0]["inventory_item_id"]
    bad_item = api.post("inventory_levels/set.json", json={"location_id": primary, "inventory_item_id": 1,
                                                           "available": 1})
    assert bad_item.status_code == 422
    assert isinstance(bad_item.json()["errors"], list)
    bad_loc = api.post("inventory_levels/set.json", json={"location_id": 1, "inventory_item_id": item,
                                                          "available": 1})
    assert bad_loc.status_code == 422
    assert api.post("inventory_levels/set.json", json={"location_id": primary}).status_code == 400
    assert api.get("inventory_levels.json").status_code == 422
    assert api.get("inventory_items.json").status_code == 400
    by_location, pages = walk(api, "inventory_levels.json", {"location_ids": primary, "limit": 50})
    assert len(pages) > 1
    assert all(lv["location_id"] == primary for lv in by_location)


# -- fulfillment --------------------------------------------------------------------------------
def test_fulfillment_flow_and_double_fulfil_is_422(sb: ShopifySandbox, api: httpx.Client) -> None:
    order = open_unfulfilled_order(api)
    fos = api.get(f"orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert len(fos) == 1
    assert fos[0]["status"] == "open"
    fo = fos[0]
    assert [li["line_item_id"] for li in fo["line_items"]] == [li["id"] for li in order["line_items"]]
    body = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": fo["id"]}],
                            "tracking_info": {"number": "1Z999", "company": "UPS"}, "notify_customer": False}}
    created = api.post("fulfillments.json", json=body)
    assert created.status_code == 201
    fulfillment = created.json()["fulfillment"]
    assert fulfillment["status"] == "success"
    assert fulfillment["order_id"] == order["id"]
    assert fulfillment["tracking_numbers"] == ["1Z999"]
    assert "ups.com" in fulfillment["tracking_url"]
    assert sum(li["quantity"] for li in fulfillment["line_items"]) == sum(li["quantity"] for li in order["line_items"])
    after = api.get(f"orders/{order['id']}.json").json()["order"]
    assert after["fulfillment_status"] == "fulfilled"
    assert after["updated_at"] > order["updated_at"]
    fo_after = api.get(f"orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    assert fo_after["status"] == "closed"
    listed = api.get(f"orders/{order['id']}/fulfillments.json").json()["fulfillments"]
    assert listed == [fulfillment] == sb.fulfillments(order["id"])
    again = api.post("fulfillments.json", json=body)
    assert again.status_code == 422
    assert again.json() == {"errors": [f"Fulfillment order {fo['id']} has an unfulfillable status= closed."]}


def test_partial_fulfillment_and_cancelled_order(sb: ShopifySandbox, api: httpx.Client) -> None:
    orders = api.get("orders.json", params={"fulfillment_status": "unshipped", "limit": 250}).json()["orders"]
    order = next(o for o in orders if sum(li["quantity"] for li in o["line_items"]) > 1)
    fo = api.get(f"orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    one = {"fulfillment": {"line_items_by_fulfillment_order": [{
        "fulfillment_order_id": fo["id"],
        "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"], "quantity": 1}]}]}}
    assert api.post("fulfillments.json", json=one).status_code == 201
    assert api.get(f"orders/{order['id']}.json").json()["order"]["fulfillment_status"] == "partial"
    assert api.get(f"fulfillment_orders/{fo['id']}.json").json()["fulfillment_order"]["status"] == "in_progress"
    too_many = {"fulfillment": {"line_items_by_fulfillment_order": [{
        "fulfillment_order_id": fo["id"],
        "fulfillment_order_line_items": [{"id": fo["line_items"][0]["id"], "quantity": 99}]}]}}
    assert api.post("fulfillments.json", json=too_many).status_code == 422
    other = next(o for o in orders if o["id"] != order["id"])
    other_fo = api.get(f"orders/{other['id']}/fulfillment_orders.json").json()["fulfillment_orders"][0]
    sb.cancel_order(other["id"])
    refused = api.post("fulfillments.json", json={"fulfillment": {"line_items_by_fulfillment_order": [
        {"fulfillment_order_id": other_fo["id"]}]}})
    assert refused.status_code == 422
    assert "unfulfillable status= closed" in refused.json()["errors"][0]
    assert api.post("fulfillments.json", json={"nope": 1}).status_code == 400
    unknown = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": 1}]}}
    assert api.post("fulfillments.json", json=unknown).status_code == 404


# -- control interface --------------------------------------------------------------------------
def test_control_interface_over_http(sb: ShopifySandbox, api: httpx.Client, control: httpx.Client) -> None:
    info = control.get("info").json()
    assert info["products"] == 60
    assert info["orders"] == 40
    assert len(info["locations"]) == 2
    assert TOKEN not in str(info)
    order = open_unfulfilled_order(api)
    assert control.post(f"orders/{order['id']}", json={"financial_status": "refunded"}).status_code == 200
    changed = api.get(f"orders/{order['id']}.json").json()["order"]
    assert changed["financial_status"] == "refunded"
    assert changed["updated_at"] > order["updated_at"]
    cancelled = control.post(f"orders/{order['id']}/cancel", json={"reason": "fraud"}).json()["order"]
    assert cancelled["cancel_reason"] == "fraud"
    assert cancelled["cancelled_at"]
    product = api.get("products.json", params={"limit": 1}).json()["products"][0]
    vid = product["variants"][0]["id"]
    control.post(f"products/{product['id']}", json={"title": "Via HTTP", "variants": {str(vid): {"sku": "NEW"}}})
    assert api.get(f"variants/{vid}.json").json()["variant"]["sku"] == "NEW"
    assert control.post("products/touch", params={"pct": 50}).json() == {"changed": 30}
    added = control.post("products").json()["product"]
    assert api.get(f"products/{added['id']}.json").status_code == 200
    new_order = control.post("orders", json={"financial_status": "authorized", "shipping_code": "Carrier Pigeon"})
    assert new_order.json()["order"]["name"] == "#1041"
    assert new_order.json()["order"]["shipping_lines"][0]["code"] == "Carrier Pigeon"
    assert control.post("orders/1", json={"x": 1}).status_code == 404
    api.post("inventory_levels/set.json", json={})
    assert len(control.get("writes").json()["writes"]) == 1
    assert control.delete("writes").status_code == 200
    assert sb.writes() == []
    stats = control.get("stats").json()
    assert stats["by_route"]["GET /admin/api/{version}/orders.json"] >= 1
    assert control.post("faults", json={"error_rate": 1.0, "error_status": 503}).status_code == 200
    assert api.get("shop.json").status_code == 503
    assert control.delete("faults").status_code == 200
    assert api.get("shop.json").status_code == 200
    assert control.post("faults", json={"bogus": 1}).status_code == 400
    assert control.post("rate_limit", json={"enabled": True}).json() == {"enabled": True}


# -- faults -------------------------------------------------------------------------------------
def test_error_fault_and_429_storm(sb: ShopifySandbox, api: httpx.Client, control: httpx.Client) -> None:
    sb.set_faults(error_rate=1.0)
    failed = api.get("products.json")
    assert failed.status_code == 500
    assert failed.json() == {"errors": "Internal Server Error"}
    assert control.get("info").status_code == 200  # control paths are never faulted
    sb.set_faults(storm_429=3)
    storm = [api.get("shop.json") for _ in range(4)]
    assert [r.status_code for r in storm] == [429, 429, 429, 200]
    assert storm[0].headers["Retry-After"] == "2.0"
    sb.clear_faults()
    assert api.get("shop.json").status_code == 200


def test_truncated_body_makes_the_client_fail(sb: ShopifySandbox, api: httpx.Client) -> None:
    sb.set_faults(truncate_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("products.json")
    sb.clear_faults()
    assert api.get("products.json").status_code == 200


def test_timeout_fault_holds_the_answer(sb: ShopifySandbox) -> None:
    sb.set_faults(timeout_rate=1.0, timeout_s=2.0)
    with httpx.Client(headers={"X-Shopify-Access-Token": TOKEN}, timeout=0.2) as client, pytest.raises(
            httpx.ReadTimeout):
        client.get(f"{sb.api_url}/shop.json")
    assert sb.stats()["faults"]["served"]["timeout"] == 1


# -- determinism, CDN, CLI ----------------------------------------------------------------------
def _bodies(sandbox: ShopifySandbox) -> list[bytes]:
    with httpx.Client(base_url=sandbox.api_url, headers={"X-Shopify-Access-Token": TOKEN}) as client:
        paths = ("products.json?limit=250", "orders.json?status=any&limit=250", "inventory_levels.json?location_ids="
                 f"{sandbox.info()['primary_location_id']}&limit=250")
        return [client.get(path).content.replace(sandbox.url.encode(), b"{url}") for path in paths]


def test_same_seed_serves_identical_bytes() -> None:
    with ShopifySandbox(products=40, orders=20, seed=7) as one, ShopifySandbox(products=40, orders=20, seed=7) as two:
        first = _bodies(one)
        assert first == _bodies(two)
    with ShopifySandbox(products=40, orders=20, seed=8) as three:
        other = _bodies(three)
    assert other[0] != first[0]
    assert other[1] != first[1]


def test_image_src_serves_a_real_png(api: httpx.Client) -> None:
    products = api.get("products.json", params={"limit": 250}).json()["products"]
    image = next(im for p in products for im in p["images"])
    response = httpx.get(image["src"])  # no token: the CDN is public
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", response.content[16:24]) == (image["width"], image["height"])
    assert httpx.get(image["src"].replace(f"-{image['position']}.png", "-9.png")).status_code == 404


def test_module_runs_in_the_foreground_until_sigterm() -> None:
    command = [sys.executable, "-m", "plugins.shopify.sandbox", "--port", "0", "--products", "3",
               "--orders", "2", "--seed", "3", "--token", "t0k3n", "--no-rate-limit"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("sandbox listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            answer = httpx.get(f"{url}/admin/api/2024-10/products/count.json",
                               headers={"X-Shopify-Access-Token": "t0k3n"})
            assert answer.json() == {"count": 3}
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_access_scopes_endpoint_is_unversioned_and_authenticated() -> None:
    """Shopify serves the token's scopes at /admin/oauth/access_scopes.json (no API version)."""
    with ShopifySandbox(products=1, orders=0) as sb:
        ok = httpx.get(f"{sb.url}/admin/oauth/access_scopes.json", headers={"X-Shopify-Access-Token": sb.token})
        assert ok.status_code == 200
        assert {"handle": "write_inventory"} in ok.json()["access_scopes"]
        sb.set_scopes(["read_products"])
        ok = httpx.get(f"{sb.url}/admin/oauth/access_scopes.json", headers={"X-Shopify-Access-Token": sb.token})
        assert ok.json() == {"access_scopes": [{"handle": "read_products"}]}
        bad = httpx.get(f"{sb.url}/admin/oauth/access_scopes.json", headers={"X-Shopify-Access-Token": "nope"})
        assert bad.status_code == 401


def test_moving_a_fulfillment_order_and_one_location_per_fulfillment(sb: ShopifySandbox, api: httpx.Client) -> None:
    primary, other = (loc["id"] for loc in api.get("locations.json").json()["locations"])
    order = sb.add_order(financial_status="paid")
    [fo] = api.get(f"orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert fo["assigned_location_id"] == primary
    whole = api.post(f"fulfillment_orders/{fo['id']}/move.json",
                     json={"fulfillment_order": {"new_location_id": other}}).json()
    assert whole["original_fulfillment_order"]["id"] == whole["moved_fulfillment_order"]["id"] == fo["id"]
    assert whole["moved_fulfillment_order"]["assigned_location_id"] == other
    assert whole["moved_fulfillment_order"]["assigned_location"]["name"] == "Downtown Store"
    assert whole["remaining_fulfillment_order"] is None
    again = api.post(f"fulfillment_orders/{fo['id']}/move.json", json={"fulfillment_order": {"new_location_id": other}})
    assert again.status_code == 422 and again.json() == {"errors": ["Cannot change location."]}

    line = fo["line_items"][0]
    part = api.post(f"fulfillment_orders/{fo['id']}/move.json", json={"fulfillment_order": {
        "new_location_id": primary, "fulfillment_order_line_items": [{"id": line["id"], "quantity": 1}]}}).json()
    moved, kept = part["moved_fulfillment_order"], part["original_fulfillment_order"]
    assert moved["id"] != fo["id"] and moved["assigned_location_id"] == primary
    assert [(li["line_item_id"], li["quantity"]) for li in moved["line_items"]] == [(line["line_item_id"], 1)]
    assert kept["assigned_location_id"] == other
    left = sum(li["fulfillable_quantity"] for li in kept["line_items"])
    assert left == sum(li["quantity"] for li in order["line_items"]) - 1
    assert (part["remaining_fulfillment_order"] is None) == (left == 0)
    fos = api.get(f"orders/{order['id']}/fulfillment_orders.json").json()["fulfillment_orders"]
    assert sorted(f["assigned_location_id"] for f in fos) == sorted([primary, other])

    mixed = {"fulfillment": {"line_items_by_fulfillment_order": [{"fulfillment_order_id": f["id"]} for f in fos]}}
    refused = api.post("fulfillments.json", json=mixed)
    assert refused.status_code == 422
    assert refused.json() == {"errors": ["All fulfillment orders must be assigned to the same location."]}
    shipped = api.post("fulfillments.json", json={"fulfillment": {
        "line_items_by_fulfillment_order": [{"fulfillment_order_id": moved["id"]}]}})
    assert shipped.status_code == 201 and shipped.json()["fulfillment"]["location_id"] == primary

    assert api.post("fulfillment_orders/1/move.json",
                    json={"fulfillment_order": {"new_location_id": other}}).status_code == 404
    assert api.post(f"fulfillment_orders/{fo['id']}/move.json", json={"nope": 1}).status_code == 400
    assert api.post(f"fulfillment_orders/{fo['id']}/move.json",
                    json={"fulfillment_order": {"new_location_id": 5}}).status_code == 422


def test_versions_it_no_longer_supports_fall_forward_and_say_so(sb: ShopifySandbox, api: httpx.Client) -> None:
    assert api.get("shop.json").headers["X-Shopify-API-Version"] == "2024-07"
    old = httpx.get(f"{sb.url}/admin/api/2023-10/shop.json", headers={"X-Shopify-Access-Token": TOKEN})
    assert old.status_code == 200 and old.headers["X-Shopify-API-Version"] == "2024-01"
    scopes = httpx.get(f"{sb.url}/admin/oauth/access_scopes.json", headers={"X-Shopify-Access-Token": TOKEN})
    assert "X-Shopify-API-Version" not in scopes.headers  # not a versioned endpoint


def test_the_command_line_names_itself_as_it_is_called(capsys: pytest.CaptureFixture[str]) -> None:
    import plugins.shopify

    assert plugins.shopify._sandbox_main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: connect-engine sandbox shopify ")
