"""End to end, products: the Shopify product feeds against the sandbox over HTTP, on SQLite and PostgreSQL.

Covers import_new_products, update_products and import_product_images: paging
over many pages, incremental re-runs that read only what changed, new-only
imports, and images downloaded into the data folder.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from engine import hubapi
from engine.app import Engine
from plugins.shopify.sandbox import ShopifySandbox
from tests.plugins.shopify.conftest import (
    PAGE_SIZE,
    PRODUCTS,
    SHOP,
    ShopApi,
    hub_products,
    route_count,
    run,
)


def by_sku(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["sku"]: r for r in rows}


def hub_name(product: dict[str, Any], variant: dict[str, Any]) -> str:
    """The hub name products.yaml gives a variant."""
    return product["title"] if variant["title"] == "Default Title" else f"{product['title']} - {variant['title']}"


def test_import_new_products_pages_through_the_whole_shop(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    products = shop.products()
    variants = {v["sku"]: (p, v) for p in products for v in p["variants"]}
    pages: list[int | None] = []
    sb.reset_stats()

    info = run(engine, "import_new_products", progress=lambda counts, total: pages.append(total))

    assert len(products) == PRODUCTS
    assert len(pages) == math.ceil(PRODUCTS / PAGE_SIZE) == route_count(sb, "products.json")
    assert route_count(sb, "products/count.json") == 1 and set(pages) == {PRODUCTS}  # asked once, after page 1
    assert info.counts["read"] == PRODUCTS
    assert info.counts["created"] == len(variants) and info.counts["errors"] == 0
    hub = by_sku(hub_products(engine))
    assert set(hub) == set(variants)
    for sku, (product, variant) in variants.items():
        row = hub[sku]
        assert row["external_id"] == str(variant["id"])
        assert row["name"] == hub_name(product, variant)
        assert row["price"] == variant["price"]
        assert row["remote"] == {"product_id": product["id"], "variant_id": variant["id"],
                                 "inventory_item_id": variant["inventory_item_id"]}
    assert "run" not in info.cursor_after  # the last page closed the window


def test_update_products_reads_only_the_product_that_changed(engine: Engine, sb: ShopifySandbox,
                                                             shop: ShopApi) -> None:
    run(engine, "import_new_products")
    first = run(engine, "update_products")
    assert first.counts["read"] == PRODUCTS and first.counts["updated"] == 0
    before = by_sku(hub_products(engine))
    product = shop.products()[10]
    variant = product["variants"][0]

    sb.edit_product(product["id"], title="Renamed In The Store", variants={variant["id"]: {"price": "123.45"}})
    sb.reset_stats()
    totals: list[int | None] = []
    info = run(engine, "update_products", progress=lambda counts, total: totals.append(total))

    assert info.counts["read"] == 1 and totals == [1]
    assert info.counts["updated"] == len(product["variants"]) and info.counts["created"] == 0
    # one page: the read asks for no count (the count is for progress on reads of several pages)
    assert route_count(sb, "products.json") == 1 and route_count(sb, "products/count.json") == 0
    after = by_sku(hub_products(engine))
    assert after[variant["sku"]]["price"] == "123.45"
    assert after[variant["sku"]]["name"].startswith("Renamed In The Store")
    edited = {v["sku"] for v in product["variants"]}
    assert {k: v for k, v in after.items() if k not in edited} == {k: v for k, v in before.items() if k not in edited}

    again = run(engine, "update_products")
    # Only a change stamped within the last minute may be read once more (clock skew margin); nothing is rewritten.
    assert again.counts["read"] <= 1 and again.counts["updated"] == again.counts["created"] == 0


def test_import_new_products_creates_only_new_products(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:
    run(engine, "import_new_products")
    existing = shop.products()[3]
    old_name = by_sku(hub_products(engine))[existing["variants"][0]["sku"]]["name"]

    sb.edit_product(existing["id"], title="Edited, not new")
    added = sb.add_product(title="Brand New Thing")
    sb.reset_stats()
    info = run(engine, "import_new_products")

    assert info.counts["read"] == 1
    assert info.counts["created"] == len(added["variants"]) and info.counts["updated"] == 0
    hub = by_sku(hub_products(engine))
    assert {v["sku"] for v in added["variants"]} <= set(hub)
    assert all(hub[v["sku"]]["name"].startswith("Brand New Thing") for v in added["variants"])
    assert hub[existing["variants"][0]["sku"]]["name"] == old_name
    assert len(hub) == sum(len(p["variants"]) for p in shop.products())

    run(engine, "update_products")  # the edit is update_products' job
    assert by_sku(hub_products(engine))[existing["variants"][0]["sku"]]["name"].startswith("Edited, not new")


def test_images_are_downloaded_once_with_their_sha256(engine: Engine, sb: ShopifySandbox, shop: ShopApi) -> None:


    run(engine, "import_new_products")
    info = run(engine, "import_product_images")

    images = {i["src"]: (p, i) for p in shop.products() for i in p["images"]}
    sku_of = {v["id"]: v["sku"] for p in shop.products() for v in p["variants"]}
    # an image belongs to the variants it is assigned to, else to its product's first SKU
    want = {(sku_of[v], src) for src, (p, i) in images.items() for v in i["variant_ids"]}
    want |= {(p["variants"][0]["sku"], src) for src, (p, i) in images.items() if not i["variant_ids"]}
    assert any(i["variant_ids"] for _, i in images.values()) and any(not i["variant_ids"] for _, i in images.values())
    assert images and info.counts["created"] == len(want) and info.counts["read"] == len(images)
    rows = hubapi.hub_list(engine, "images", integration=SHOP, limit=10_000)
    assert {(r["sku"], r["url"]) for r in rows} == want and len(rows) == len(want)
    data_dir = engine.config.data_dir
    for row in rows:
        product, image = images[row["url"]]
        assert row["position"] == image["position"]
        content = (data_dir / row["path"]).read_bytes()
        assert content.startswith(b"\x89PNG")
        assert hashlib.sha256(content).hexdigest() == row["sha256"] and row["bytes"] == len(content)

    downloads = sb.stats().get("other_requests", 0)
    assert downloads == len(images)
    again = run(engine, "import_product_images")
    assert again.counts["created"] == 0
    assert sb.stats().get("other_requests", 0) == downloads  # nothing fetched twice

    added = sb.add_product(title="New With Pictures")
    newer = run(engine, "import_product_images")
    assert newer.counts["read"] == len(added["images"])
    assert newer.counts["created"] == sum(len(i["variant_ids"]) or 1 for i in added["images"])
    assert sb.stats().get("other_requests", 0) == downloads + len(added["images"])




def test_a_sku_two_store_variants_carry_changes_nothing_until_one_is_fixed(engine: Engine, sb: ShopifySandbox,
                                                                          shop: ShopApi) -> None:
    run(engine, "import_new_products")
    a, b = shop.products()[0], shop.products()[1]
    va, vb = a["variants"][0], b["variants"][0]
    before = by_sku(hub_products(engine))[va["sku"]]
    sb.edit_product(b["id"], variants={vb["id"]: {"sku": va["sku"]}})  # as Shopify's "Duplicate product" does

    info = run(engine, "update_products", "partial")

    assert info.counts["errors"] == 1
    assert by_sku(hub_products(engine))[va["sku"]] == before  # A's SKU keeps A's data and its link
    assert vb["sku"] in by_sku(hub_products(engine))  # B's old SKU is untouched too
    (note,) = [n for n in engine.notifications(integration=SHOP) if n.feed == "update_products"]
    assert note.record_key == str(b["id"]) and f"SKU '{va['sku']}'" in note.message
    assert f"store record {vb['id']} has it too" in note.message
    assert note.hint and f"connect-engine hub unlink {va['sku']} --integration {SHOP}" in note.hint

    # The store was right after all: A's variant is gone (deleted and made again as B's). Unlink, run again.
    sb.edit_product(a["id"], variants={va["id"]: {"sku": va["sku"] + "-OLD"}})
    assert hubapi.unlink(engine, [va["sku"]], SHOP) == [
        {"sku": va["sku"], "integration": SHOP, "external_id": str(va["id"])}]
    sb.edit_product(b["id"], title="Touched again")
    again = run(engine, "update_products")
    assert again.counts["errors"] == 0
    assert by_sku(hub_products(engine))[va["sku"]]["name"].startswith("Touched again")
    assert [n for n in engine.notifications(integration=SHOP) if n.feed == "update_products"] == []


def test_values_no_database_can_hold_fail_their_record_alone(engine: Engine, sb: ShopifySandbox,
                                                              shop: ShopApi) -> None:
    products = shop.products()
    bad = {products[0]["id"]: {"title": "Bad\u0000Title"}, products[1]["id"]: {"variants": {"price": "1e50"}},
           products[2]["id"]: {"variants": {"price": "1" * 45 + ".00"}},
           products[3]["id"]: {"variants": {"grams": "inf"}}}
    for pid, change in bad.items():
        product = next(p for p in products if p["id"] == pid)
        variants = {v["id"]: change["variants"] for v in product["variants"]} if "variants" in change else None
        sb.edit_product(pid, variants=variants, **{k: v for k, v in change.items() if k != "variants"})

    info = run(engine, "import_new_products", "partial")

    wrong = sum(len(p["variants"]) for p in products if p["id"] in bad)
    assert info.counts["errors"] == len(bad)  # one per store record
    assert info.counts["created"] == sum(len(p["variants"]) for p in products) - wrong  # the rest landed
    messages = " ".join(n.message for n in engine.notifications(integration=SHOP, limit=1000))
    for field in ("name", "price", "weight_grams"):
        assert f"{field} " in messages
    assert "NUL character" in messages and "too large for an amount" in messages and "finite" in messages
    hub = by_sku(hub_products(engine))
    assert not any(v["sku"] in hub for p in products if p["id"] in bad for v in p["variants"])
