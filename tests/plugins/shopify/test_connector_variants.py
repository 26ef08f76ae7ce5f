"""The Shopify connector and products with more than 100 variants, against the sandbox over real HTTP.

REST shows a product's first 100 variants; the connector asks GraphQL for the rest. Waits
are recorded, never slept: a test that lets the sandbox's cost bucket refill passes the
recorded time on to the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.connector import RunContext, Services
from engine.errors import AuthError, ConnectorError, TransientError
from plugins.shopify import variants as variants_module
from plugins.shopify.client import shopify_message
from plugins.shopify.connector import ShopifyConnector
from plugins.shopify.graphql import MARGIN, CostPacer, answer
from plugins.shopify.sandbox import ShopifySandbox
from plugins.shopify.variants import QUERY, QUERY_COST, rest_variant

CTX = RunContext(integration="demo", feed="t")
#: Positions (0-based, in id order) of the shop's products with 230 and with exactly 100 variants.
BIG, EXACT = 2, 4
GRAPHQL_ROUTE = "POST /admin/api/{version}/graphql.json"
#: Fields of a REST variant the connector's GraphQL variants must carry alike.
SAME = ("id", "product_id", "sku", "barcode", "price", "compare_at_price", "grams", "weight", "weight_unit",
        "inventory_item_id", "inventory_quantity", "position", "title", "taxable", "inventory_policy",
        "admin_graphql_api_id")


class Shop:
    """A sandbox with a 230-variant product (number 3, with an image) and a 100-variant one (number 5)."""

    def __init__(self, sandbox: ShopifySandbox, tmp_path: Path) -> None:
        self.sb = sandbox
        self.tmp_path = tmp_path
        self.waits: list[float] = []
        self.passing_time = False
        self.slept = 0.0
        self.started = time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Record the wait; with ``passing_time`` the connector's clock and the shop's cost bucket move on."""
        self.waits.append(seconds)
        if self.passing_time:
            self.slept += seconds
            self.sb.pass_time(seconds)

    def monotonic(self) -> float:
        """With ``passing_time``, the connector's clock moves only by its waits, as the shop's frozen bucket does."""
        return (self.started if self.passing_time else time.monotonic()) + self.slept

    def connector(self, **settings: Any) -> ShopifyConnector:
        values = {"shop_url": self.sb.url, "access_token": self.sb.token, "page_size": 5, **settings}
        conn = ShopifyConnector("demo", values, Services(sessions=None, clock=lambda: datetime.now(UTC),
                                                         data_dir=self.tmp_path))
        conn.sleep = self.sleep
        conn.monotonic = self.monotonic
        return conn

    def graphql_requests(self) -> int:
        return int(self.sb.stats()["by_route"].get(GRAPHQL_ROUTE, 0))


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    counts = {BIG + 1: 230, EXACT + 1: 100}
    with ShopifySandbox(products=12, orders=3, seed=1, rate_limit=False, variant_counts=counts) as sb:
        yield Shop(sb, tmp_path)


def products(conn: ShopifyConnector) -> list[dict[str, Any]]:
    """Every product a read yields; ``conn.graphql_sent`` is then the GraphQL requests its client sent."""
    with conn:
        got = [r for page in conn.read("products", cursor=None, ctx=CTX) for r in page.records]
        conn.graphql_sent = conn.client.graphql_requests  # type: ignore[attr-defined]
    return got


def check_complete(product: dict[str, Any], whole: dict[str, Any]) -> None:
    assert len(product["variants"]) == len(whole["variants"])
    for got, want in zip(product["variants"], whole["variants"], strict=True):
        assert {k: got[k] for k in SAME} == {k: want[k] for k in SAME}


def test_products_past_100_variants_are_completed_through_graphql(shop: Shop) -> None:
    shop.sb.reset_stats()
    conn = shop.connector()

    got = products(conn)

    counts = [len(p["variants"]) for p in got]
    assert counts == [len(shop.sb.product(p["id"])["variants"]) for p in got]
    assert counts[BIG] == 230 and counts[EXACT] == 100
    assert max(c for n, c in enumerate(counts) if n not in (BIG, EXACT)) <= 3
    check_complete(got[BIG], shop.sb.product(got[BIG]["id"]))
    check_complete(got[EXACT], shop.sb.product(got[EXACT]["id"]))
    # 230 variants: three pages of 100; exactly 100: one page, which says nothing follows.
    assert shop.graphql_requests() == conn.graphql_sent == 4  # type: ignore[attr-defined]
    assert shop.waits == []


def test_products_under_100_variants_cost_no_graphql_request(tmp_path: Path) -> None:
    with ShopifySandbox(products=30, orders=1, seed=2, rate_limit=False, variant_counts={7: 99}) as sb:
        shop = Shop(sb, tmp_path)
        conn = shop.connector(page_size=250)
        got = products(conn)
        with shop.connector() as stock:
            levels = [r for p in stock.read("inventory_levels", cursor=None, ctx=CTX) for r in p.records]
        assert len(got) == 30 and max(len(p["variants"]) for p in got) == 99
        assert len(levels) == sb.info()["variants"]
        assert shop.graphql_requests() == 0 and conn.graphql_sent == 0  # type: ignore[attr-defined]


def test_fetch_completes_the_products_it_yields(shop: Shop) -> None:
    pid = products(shop.connector())[BIG]["id"]
    conn = shop.connector()
    with conn:
        (got,) = list(conn.fetch("products", [str(pid)], ctx=CTX))
        assert conn.client.graphql_requests == 3
    check_complete(got, shop.sb.product(pid))


def test_stock_levels_cover_variants_past_100(shop: Shop) -> None:
    conn = shop.connector()
    with conn:
        levels = {r["sku"]: r for p in conn.read("inventory_levels", cursor=None, ctx=CTX) for r in p.records}
    big = shop.sb.product(products(shop.connector())[BIG]["id"])
    location = shop.sb.info()["primary_location_id"]
    for variant in big["variants"][100:]:
        level = levels[variant["sku"]]
        assert level["inventory_item_id"] == variant["inventory_item_id"]
        assert level["available"] == shop.sb.inventory(variant["inventory_item_id"], location)
        assert (level["variant_id"], level["product_id"]) == (variant["id"], big["id"])
    assert len(levels) == shop.sb.info()["variants"]


def test_images_name_the_skus_of_variants_past_100(shop: Shop) -> None:
    big = shop.sb.product(products(shop.connector())[BIG]["id"])
    target = big["variants"][150]
    image = {**big["images"][0], "variant_ids": [target["id"]]}
    shop.sb.edit_product(big["id"], images=[image], image=image)

    conn = shop.connector()
    with conn:
        read = [r for p in conn.read("product_images", cursor=None, ctx=CTX) for r in p.records]
        (fetched,) = list(conn.fetch("product_images", [str(image["id"])], ctx=CTX))
    (got,) = [r for r in read if r["id"] == image["id"]]
    assert got["variant_skus"] == fetched["variant_skus"] == [target["sku"]]
    assert len(got["skus"]) == 230


def test_throttled_queries_are_waited_out_and_nothing_is_lost(shop: Shop) -> None:
    shop.passing_time = True
    shop.sb.set_graphql_limit(enabled=True, maximum=1000, restore_rate=50, available=100, frozen=True)
    shop.sb.reset_stats()
    conn = shop.connector()

    got = products(conn)

    check_complete(got[BIG], shop.sb.product(got[BIG]["id"]))
    check_complete(got[EXACT], shop.sb.product(got[EXACT]["id"]))
    assert shop.sb.stats()["graphql_throttled"] == 1  # the first query; the client paced the others
    # The throttled query waited for the bucket to hold its cost; each later one waited, before it was
    # sent, for the points the one before took: 403 of a full page, 123 of the last one (30 variants).
    assert shop.waits == [pytest.approx(w, abs=0.1) for w in (
        (QUERY_COST - 100) / 50, QUERY_COST / 50, QUERY_COST / 50, (QUERY_COST - (QUERY_COST - 123)) / 50)]
    assert shop.graphql_requests() == conn.graphql_sent == 5  # type: ignore[attr-defined]


def test_a_throttle_answered_429_is_waited_out_too(shop: Shop) -> None:
    shop.passing_time = True
    shop.sb.set_graphql_limit(enabled=True, maximum=1000, restore_rate=50, available=0, throttle_status=429,
                              frozen=True)
    got = products(shop.connector())
    check_complete(got[BIG], shop.sb.product(got[BIG]["id"]))
    assert shop.sb.stats()["graphql_throttled"] == 1
    assert shop.waits[0] == pytest.approx(QUERY_COST / 50, abs=0.1)


def test_graphql_5xx_and_429_are_retried_like_any_call(shop: Shop) -> None:
    pid = products(shop.connector())[BIG]["id"]
    variables = {"id": f"gid://shopify/Product/{pid}", "first": 10, "after": None}
    conn = shop.connector(max_retries=2)
    with conn:
        shop.sb.set_faults(storm_429=1)
        data = conn.client.graphql(QUERY, variables)
        assert len(data["product"]["variants"]["nodes"]) == 10 and shop.waits == [2.0]
        shop.sb.set_faults(error_rate=1.0, error_status=502)
        with pytest.raises(TransientError) as info:
            conn.client.graphql(QUERY, variables)
    assert info.value.status == 502 and len(shop.waits) == 3
    assert "502 Bad Gateway from POST /admin/api/2024-07/graphql.json" in str(info.value)


def test_a_refused_query_is_an_error_with_shopifys_text(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(variants_module, "QUERY", QUERY.replace("barcode", "barcodes"))
    with pytest.raises(ConnectorError) as info:
        products(shop.connector())
    assert type(info.value) is ConnectorError
    assert "Field 'barcodes' doesn't exist on type 'ProductVariant' (undefinedField)" in str(info.value)
    assert "POST /admin/api/2024-07/graphql.json (ProductVariantsPage)" in str(info.value)


def test_a_token_without_read_products_is_an_auth_error(shop: Shop) -> None:
    shop.sb.set_scopes(["read_orders", "read_inventory"])
    with pytest.raises(AuthError) as info:
        products(shop.connector())
    assert "Access denied for product field. Required access: `read_products` access scope." in str(info.value)


# -- converting and pacing, without a shop -------------------------------------------------------


def node(**changes: Any) -> dict[str, Any]:
    base = {"id": "gid://shopify/ProductVariant/11", "legacyResourceId": "11", "title": "XL", "sku": "S-XL",
            "barcode": None, "price": "10.00", "compareAtPrice": None, "position": 101,
            "inventoryPolicy": "CONTINUE", "inventoryQuantity": 4, "taxable": False,
            "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-02T00:00:00Z",
            "inventoryItem": {"id": "gid://shopify/InventoryItem/22", "legacyResourceId": "22",
                              "measurement": {"weight": {"unit": "POUNDS", "value": 1.25}}}}
    return {**base, **changes}


def test_a_graphql_variant_takes_the_rest_shape() -> None:
    got = rest_variant(node(), 7)
    assert got == {"id": 11, "product_id": 7, "title": "XL", "price": "10.00", "sku": "S-XL", "position": 101,
                   "inventory_policy": "continue", "compare_at_price": None, "created_at": "2024-01-01T00:00:00Z",
                   "updated_at": "2024-01-02T00:00:00Z", "taxable": False, "barcode": None, "grams": 567,
                   "weight": 1.25, "weight_unit": "lb", "inventory_item_id": 22, "inventory_quantity": 4,
                   "admin_graphql_api_id": "gid://shopify/ProductVariant/11"}
    weights = {"GRAMS": (250.0, 250, "g"), "KILOGRAMS": (0.25, 250, "kg"), "OUNCES": (8.0, 227, "oz")}
    for unit, (value, grams, short) in weights.items():
        item = {"legacyResourceId": "22", "measurement": {"weight": {"unit": unit, "value": value}}}
        converted = rest_variant(node(inventoryItem=item), 7)
        assert (converted["grams"], converted["weight_unit"]) == (grams, short)
    no_weight = rest_variant(node(inventoryItem={"legacyResourceId": "22", "measurement": {"weight": None}}), 7)
    assert (no_weight["grams"], no_weight["weight"], no_weight["weight_unit"]) == (0, 0.0, None)
    by_gid = rest_variant(node(legacyResourceId=None), 7)
    assert by_gid["id"] == 11


def test_a_graphql_variant_without_ids_or_with_an_unknown_unit_is_refused_by_name() -> None:
    with pytest.raises(ConnectorError, match=r"product 7: a ProductVariant .* has no usable id"):
        rest_variant(node(legacyResourceId=None, id="gid://shopify/Product/11"), 7)
    with pytest.raises(ConnectorError, match=r"product 7: a InventoryItem .* has no usable id"):
        rest_variant(node(inventoryItem=None), 7)
    stones = {"legacyResourceId": "22", "measurement": {"weight": {"unit": "STONES", "value": 1}}}
    with pytest.raises(ConnectorError, match=r"product 7 variant 11: weight unit 'STONES' is none of GRAMS"):
        rest_variant(node(inventoryItem=stones), 7)


def test_cost_pacer_waits_for_the_bucket_to_hold_the_query() -> None:
    now = [50.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    pacer = CostPacer(sleep, lambda: now[0])
    assert pacer.wait(403) == 0.0  # nothing known yet
    status = {"maximumAvailable": 1000.0, "currentlyAvailable": 500, "restoreRate": 50.0}
    pacer.observe({"extensions": {"cost": {"requestedQueryCost": 403, "throttleStatus": status}}})
    assert pacer.wait(403) == 0.0
    pacer.observe({"extensions": {"cost": {"requestedQueryCost": 403,
                                           "throttleStatus": {**status, "currentlyAvailable": 97}}}})
    now[0] += 2.0  # regained 100 meanwhile
    assert pacer.wait(403) == pytest.approx((403 + MARGIN - 197) / 50)  # a point more than asked
    pacer.observe({"data": {}})  # an answer without cost changes nothing
    assert waits == [pytest.approx(4.14)]


def test_a_throttled_answer_waits_what_the_bucket_needs_and_at_least_a_second() -> None:
    request = httpx.Request("POST", "https://s.example/admin/api/2024-07/graphql.json")

    def throttled(status: int, available: int | None) -> httpx.Response:
        cost = {"requestedQueryCost": 403, "actualQueryCost": None, "throttleStatus": {
            "maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}}
        body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {"cost": cost} if available is not None else {}}
        return httpx.Response(status, json=body, request=request)

    pacer = CostPacer(lambda seconds: None, lambda: 0.0)
    for status, available, wait in ((200, 3, 4.01), (429, 3, 4.01), (200, 500, 1.0), (200, None, None)):
        with pytest.raises(TransientError) as info:
            answer(throttled(status, available), QUERY, pacer, shopify_message)
        assert info.value.status == 429 and info.value.retry_after == (pytest.approx(wait) if wait else None)
        assert f"{status} from POST /admin/api/2024-07/graphql.json (ProductVariantsPage): Throttled" in str(info.value)
    assert pacer.available == 500  # the last answer with a cost was noted


def test_cost_pacer_does_not_wait_for_more_than_the_bucket_holds() -> None:
    waits: list[float] = []
    pacer = CostPacer(waits.append, lambda: 0.0)
    status = {"maximumAvailable": 300.0, "currentlyAvailable": 0, "restoreRate": 50.0}
    pacer.observe({"extensions": {"cost": {"requestedQueryCost": 403, "throttleStatus": status}}})
    assert pacer.wait(403) == 0.0 and pacer.wait(200) == pytest.approx(4.02)
    assert waits == [pytest.approx(4.02)]
