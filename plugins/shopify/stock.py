"""Shopify stock reads: a location's levels with the SKUs of their items, and levels by item id.

A full read (``import_stock_levels``, ``stock_check``) takes every product's variants first,
250 products a request, keeping each inventory item's SKU, variant id and product id, then
pages through the managed location's levels, 250 a request (``location_ids`` alone is a valid
filter). Asking for levels by item takes 50 items a request: five times the requests. The
price is memory: the read holds every item's SKU and ids until it ends (decisions §27).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from engine.connector import Page
from plugins.shopify.variants import complete as complete_variants

if TYPE_CHECKING:
    from plugins.shopify.client import ShopifyClient

#: Inventory items per ``inventory_levels.json`` request (Shopify's limit for ``inventory_item_ids``).
LEVELS_CHUNK = 50
#: Inventory items per ``inventory_items.json`` request (Shopify's limit for its ``ids``).
ITEMS_CHUNK = 100

#: An inventory item's SKU, variant id and product id (the ids are None for an item looked up by id).
Item = tuple[Any, Any, Any]


def read_levels(client: ShopifyClient, location: int, cursor: Any, page_size: int) -> Iterator[Page]:
    """Every level of ``location``, a page at a time, each with its item's SKU and ids.

    A page's cursor is ``{"page_info": ...}``, the levels' page that follows it; the last
    page's is ``{"page_info": None}``, so the next read starts over (a stock read is whole).
    A level of an item the products did not show (created during the read) gets its SKU from
    ``inventory_items.json``; one not found there was deleted, and its level is left out.
    """
    after = cursor.get("page_info") if isinstance(cursor, Mapping) else None
    items = _items(client, page_size)
    params = {"location_ids": location}
    for levels, following in client.paged("inventory_levels.json", "inventory_levels", params, limit=page_size,
                                          page_info=after if isinstance(after, str) and after else None):
        new = [lv["inventory_item_id"] for lv in levels if lv["inventory_item_id"] not in items]
        items.update((item, (sku, None, None)) for item, sku in _skus(client, new).items())
        yield Page([level(lv, items[lv["inventory_item_id"]]) for lv in levels if lv["inventory_item_id"] in items],
                   cursor={"page_info": following}, total=len(items))


def fetch_levels(client: ShopifyClient, location: int, ids: list[int]) -> Iterator[dict[str, Any]]:
    """The levels at ``location`` of the inventory items ``ids``, with their SKUs (no variant or product id)."""
    for start in range(0, len(ids), ITEMS_CHUNK):  # one items request for two levels requests
        skus = _skus(client, ids[start:start + ITEMS_CHUNK])
        chunk = list(skus)
        for first in range(0, len(chunk), LEVELS_CHUNK):
            params = {"inventory_item_ids": chunk[first:first + LEVELS_CHUNK], "location_ids": location}
            for lv in client.each("inventory_levels.json", "inventory_levels", params, limit=250):
                yield level(lv, (skus.get(lv["inventory_item_id"]), None, None))


def level(raw: Mapping[str, Any], item: Item) -> dict[str, Any]:
    """An inventory level record, with its item's ``(sku, variant id, product id)``."""
    sku, variant_id, product_id = item
    return {"inventory_item_id": raw["inventory_item_id"], "location_id": raw["location_id"],
            "available": raw.get("available"), "updated_at": raw.get("updated_at"),
            "sku": sku, "variant_id": variant_id, "product_id": product_id}


def _items(client: ShopifyClient, page_size: int) -> dict[int, Item]:
    """Every inventory item of the shop's variants (completed past the 100th, as products are)."""
    items: dict[int, Item] = {}
    for products, _ in client.pages("products.json", "products", {"fields": "id,variants"}, limit=page_size):
        complete_variants(client, products)
        for product in products:
            for v in product.get("variants") or ():
                if v.get("inventory_item_id"):
                    items[v["inventory_item_id"]] = (v.get("sku"), v.get("id"), v.get("product_id"))
    return items


def _skus(client: ShopifyClient, ids: list[int]) -> dict[int, Any]:
    """The SKU of each inventory item of ``ids`` the shop still has (``inventory_items.json``, 100 ids a request)."""
    out: dict[int, Any] = {}
    for start in range(0, len(ids), ITEMS_CHUNK):
        for item in client.each("inventory_items.json", "inventory_items", {"ids": ids[start:start + ITEMS_CHUNK]},
                                limit=250):
            out[item["id"]] = item.get("sku")
    return out
