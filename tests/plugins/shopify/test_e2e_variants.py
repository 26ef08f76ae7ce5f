"""End to end, products with more than 100 variants: every SKU and its stock reach the hub.

Against the Shopify sandbox over HTTP, on SQLite and PostgreSQL. Shopify's REST API shows a
product's first 100 variants; the connector reads the rest through GraphQL, so the product
feeds, the stock import and the stock check see all of them. The hub's rows are compared
with the sandbox's own record of the product (``ShopifySandbox.product``: every variant).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from engine.app import Engine
from engine.connector import Services
from engine.hookspecs import hookimpl
from plugins.shopify.connector import ShopifyConnector
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import (
    PLUGINS,
    SHOP,
    Clock,
    ShopApi,
    hub_products,
    hub_stock,
    run,
    sandbox_env,
)

GRAPHQL_ROUTE = "POST /admin/api/{version}/graphql.json"


def graphql_requests(sb: ShopifySandbox) -> int:
    return int(sb.stats()["by_route"].get(GRAPHQL_ROUTE, 0))


def every_sku(sb: ShopifySandbox, shop: ShopApi) -> set[str]:
    """Every SKU of the shop, each product read whole (the REST API would show 100 a product)."""
    return {v["sku"] for p in shop.products() for v in sb.product(p["id"])["variants"] if v["sku"]}


def grow(sb: ShopifySandbox, shop: ShopApi, count: int, position: int = 5) -> dict[str, Any]:
    """Give the shop's product at ``position`` (id order) ``count`` variants; return it whole."""
    return sb.set_variant_count(shop.products()[position]["id"], count)


def test_a_product_with_230_variants_arrives_as_230_skus(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    big = grow(sb, shop, 230)
    sb.reset_stats()

    info = run(engine, "import_new_products")

    hub = {p["sku"]: p for p in hub_products(engine)}
    assert set(hub) == every_sku(sb, shop) and info.counts["errors"] == 0
    assert sum(1 for p in hub.values() if p["remote"]["product_id"] == big["id"]) == 230
    for variant in big["variants"][100:]:
        row = hub[variant["sku"]]
        assert (row["price"], row["barcode"], row["weight_grams"]) == (
            variant["price"], variant["barcode"], variant["grams"])
        assert row["name"] == f"{big['title']} - {variant['title']}"
        assert row["external_id"] == str(variant["id"])
        assert row["remote"] == {"product_id": big["id"], "variant_id": variant["id"],
                                 "inventory_item_id": variant["inventory_item_id"]}
    assert graphql_requests(sb) == 3  # 230 variants: pages of 100

    run(engine, "update_products")  # the first run reads the whole shop
    late = big["variants"][200]
    sb.edit_product(big["id"], variants={late["id"]: {"price": "321.00"}})
    sb.reset_stats()
    changed = run(engine, "update_products")

    assert changed.counts["read"] == 1 and changed.counts["updated"] == 1 and changed.counts["created"] == 0
    assert {p["sku"]: p for p in hub_products(engine)}[late["sku"]]["price"] == "321.00"
    assert graphql_requests(sb) == 3


def test_update_products_brings_in_the_variants_a_product_grew(engine: Engine, sb: ShopifySandbox,
                                                              shop: ShopApi) -> None:
    run(engine, "import_new_products")
    run(engine, "update_products")
    had = len(shop.products()[5]["variants"])
    big = grow(sb, shop, 230)

    info = run(engine, "update_products")

    assert info.counts["read"] == 1 and info.counts["created"] == 230 - had
    assert {p["sku"] for p in hub_products(engine)} == every_sku(sb, shop)
    assert {v["sku"] for v in big["variants"]} <= {p["sku"] for p in hub_products(engine)}


def test_stock_of_variants_past_100_is_imported_and_checked(engine: Engine, sb: ShopifySandbox,
                                                            shop: ShopApi) -> None:
    big = grow(sb, shop, 230)
    run(engine, "import_new_products")

    imported = run(engine, "import_stock_levels")

    stock = hub_stock(engine)
    assert set(stock) == every_sku(sb, shop) and imported.counts["errors"] == 0
    for variant in big["variants"][100:]:
        assert stock[variant["sku"]]["available"] == sb.inventory(variant["inventory_item_id"], shop.location)
    clean = run(engine, "stock_check")
    assert clean.counts["errors"] == 0 and clean.counts["unchanged"] == len(stock)

    late = big["variants"][180]
    answer = shop.post("inventory_levels/set.json", {"location_id": shop.location, "available": 777,
                                                     "inventory_item_id": late["inventory_item_id"]})
    assert answer.status_code == 200, answer.text
    found = run(engine, "stock_check", "partial")

    assert found.counts["errors"] == 1 and found.counts["unchanged"] == len(stock) - 1
    (note,) = [n for n in engine.notifications(integration=SHOP) if n.feed == "stock_check"]
    assert note.record_label == late["sku"] and "777" in note.message


def test_exactly_100_variants_cost_one_request_and_fewer_cost_none(engine: Engine, sb: ShopifySandbox,
                                                                   shop: ShopApi) -> None:
    sb.reset_stats()
    run(engine, "import_new_products")
    run(engine, "import_stock_levels")
    run(engine, "stock_check")
    run(engine, "update_products")
    assert graphql_requests(sb) == 0  # no product has 100 variants: REST showed them all

    had = len(shop.products()[5]["variants"])
    hundred = grow(sb, shop, 100)
    sb.reset_stats()
    info = run(engine, "update_products")

    assert graphql_requests(sb) == 1  # one page, which says no variant follows
    assert info.counts["read"] == 1 and info.counts["created"] == 100 - had
    linked = [p for p in hub_products(engine) if p["remote"]["product_id"] == hundred["id"]]
    assert sorted(p["sku"] for p in linked) == sorted(v["sku"] for v in hundred["variants"])


class PassingTime(ShopifyConnector):
    """The Shopify connector whose waits are recorded and let the sandbox's GraphQL bucket refill."""

    name = "shopify-passing-time"
    sandbox: ClassVar[ShopifySandbox | None] = None
    waits: ClassVar[list[float]] = []

    def __init__(self, integration: str, settings: Mapping[str, Any], services: Services) -> None:
        super().__init__(integration, settings, services)
        slept = [0.0]

        def sleep(seconds: float) -> None:
            PassingTime.waits.append(seconds)
            slept[0] += seconds
            assert PassingTime.sandbox is not None
            PassingTime.sandbox.pass_time(seconds)

        self.sleep: Callable[[float], None] = sleep
        self.monotonic: Callable[[], float] = lambda: time.monotonic() + slept[0]


class PassingTimePlugin:
    @hookimpl
    def register_connectors(self) -> list[type[ShopifyConnector]]:
        return [PassingTime]


def test_a_throttled_graphql_query_is_waited_out_and_nothing_is_lost(
        config: Callable[..., dict[str, Any]], sb: ShopifySandbox, shop: ShopApi, clock: Clock,
        monkeypatch: Any) -> None:
    monkeypatch.setattr(PassingTime, "sandbox", sb)
    monkeypatch.setattr(PassingTime, "waits", [])
    big = grow(sb, shop, 230)
    sb.set_graphql_limit(enabled=True, maximum=1000, restore_rate=50, available=0)
    with Engine.from_config(config(connector=PassingTime.name), plugins=[*PLUGINS, PassingTimePlugin()],
                            env=sandbox_env(sb), clock=clock) as engine:
        info = run(engine, "import_new_products")
        hub = {p["sku"] for p in hub_products(engine)}

    assert sb.stats()["graphql_throttled"] == 1
    assert PassingTime.waits and PassingTime.waits[0] > 7  # ~403 points at 50 a second
    assert hub == every_sku(sb, shop) and {v["sku"] for v in big["variants"]} <= hub
    assert info.counts["errors"] == 0


def test_a_graphql_error_fails_the_run_with_the_stores_text(engine: Engine, sb: ShopifySandbox,
                                                           shop: ShopApi) -> None:
    big = grow(sb, shop, 230)
    sb.set_scopes(["read_orders", "read_inventory", "write_inventory"])

    failed = run(engine, "import_new_products", "failed")

    text = "Access denied for product field. Required access: `read_products` access scope."
    assert text in (failed.message or ""), failed.message
    hub = {p["sku"] for p in hub_products(engine)}
    assert not {v["sku"] for v in big["variants"]} & hub  # its page was not committed: nothing half-imported
    (bell,) = [n for n in engine.notifications(integration=SHOP) if n.feed == "import_new_products"]
    assert text in bell.message
