"""Products with more than 100 variants: the REST API lists their first 100, the GraphQL API the rest.

Shopify lets a product have up to 2,048 variants, but its REST products endpoints show the
first 100 of them and nothing more. A product read through REST with exactly 100 variants
may have more, so :func:`complete` asks the GraphQL Admin API for its variants page by page
(``product(id:) { variants(first:, after:) }``, in position order), turns each one REST did
not give into the REST variant shape the feeds' mappings read, and appends it. A product
with fewer variants costs one ``len()``; one with exactly 100 costs one GraphQL request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import ConnectorError

if TYPE_CHECKING:
    from plugins.shopify.client import ShopifyClient

#: The most variants the REST API shows of a product.
REST_CAP = 100
#: Variants per GraphQL request. A page asks 1 (product) + 2 (connection) + 4 per variant (the variant,
#: its inventory item, the item's measurement, the weight) = 403 points, well under the 1,000 one query
#: may cost, and a product of exactly 100 variants is settled in one request.
PAGE = 100
QUERY_COST = 1 + 2 + 4 * PAGE
#: Shopify's variant limit: more pages than this allows means the answers go round in a loop.
MAX_VARIANTS = 2048
#: Fields of ``ProductVariant`` and ``InventoryItem`` as of API 2024-04 (a variant's weight moved to
#: ``inventoryItem.measurement``; ids are GIDs, ``legacyResourceId`` the REST id as a string).
QUERY = """query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {
  product(id: $id) {
    variants(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id legacyResourceId title sku barcode price compareAtPrice position
        inventoryPolicy inventoryQuantity taxable createdAt updatedAt
        inventoryItem { id legacyResourceId measurement { weight { unit value } } }
      }
    }
  }
}"""
#: GraphQL ``WeightUnit`` -> REST ``weight_unit`` and grams per unit.
UNITS = {"GRAMS": ("g", 1.0), "KILOGRAMS": ("kg", 1000.0), "OUNCES": ("oz", 28.349523125),
         "POUNDS": ("lb", 453.59237)}


def complete(client: ShopifyClient, products: Iterable[dict[str, Any]]) -> None:
    """Append to each product read through REST the variants past its 100th (in place)."""
    for product in products:
        variants = product.get("variants")
        if variants is not None and len(variants) == REST_CAP:
            _complete(client, product)


def _complete(client: ShopifyClient, product: dict[str, Any]) -> None:
    pid = product["id"]
    variants = product["variants"]
    known = {v.get("id") for v in variants}
    after: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_VARIANTS // PAGE + 1):
        data = client.graphql(QUERY, {"id": f"gid://shopify/Product/{pid}", "first": PAGE, "after": after},
                              cost=QUERY_COST)
        node = data.get("product")
        if node is None:  # deleted since the REST read: its next read settles it
            return
        nodes, more, after = _page(node, pid)
        for raw in nodes:
            variant = rest_variant(raw, pid)
            if variant["id"] not in known:
                known.add(variant["id"])
                variants.append(variant)
        if not more:
            return
        if after is None or after in seen:
            raise ConnectorError(f"product {pid}: the GraphQL answer says more variants follow but gives no new "
                                 f"endCursor ({after!r}); stopping to avoid a loop", record=str(pid))
        seen.add(after)
    raise ConnectorError(f"product {pid}: the GraphQL answers gave more than {MAX_VARIANTS} variants "
                         "(Shopify's limit); stopping", record=str(pid))


def _page(node: Any, pid: int) -> tuple[list[Any], bool, str | None]:
    connection = node.get("variants") if isinstance(node, Mapping) else None
    nodes = connection.get("nodes") if isinstance(connection, Mapping) else None
    info = connection.get("pageInfo") if isinstance(connection, Mapping) else None
    if not isinstance(nodes, list) or not isinstance(info, Mapping):
        raise ConnectorError(f"product {pid}: the GraphQL answer lacks product.variants.nodes or its pageInfo",
                             record=str(pid))
    cursor = info.get("endCursor")
    return nodes, bool(info.get("hasNextPage")), cursor if isinstance(cursor, str) else None


def legacy_id(obj: Any, kind: str, pid: int) -> int:
    """The REST id of a GraphQL object: its ``legacyResourceId``, else the number its GID ends with.

    Raises:
        ConnectorError: The object has neither, naming the product and the kind of object.
    """
    raw = obj.get("legacyResourceId") if isinstance(obj, Mapping) else None
    if isinstance(raw, (str, int)) and not isinstance(raw, bool) and str(raw).isdigit():
        return int(raw)
    gid = obj.get("id") if isinstance(obj, Mapping) else None
    m = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", gid) if isinstance(gid, str) else None
    if m is None:
        raise ConnectorError(f"product {pid}: a {kind} in the GraphQL answer has no usable id "
                             f"(legacyResourceId {raw!r}, id {gid!r})", record=str(pid))
    return int(m.group(1))


def rest_variant(node: Mapping[str, Any], pid: int) -> dict[str, Any]:
    """A GraphQL ``ProductVariant`` in the REST variant shape (``grams`` from the inventory item's weight).

    Raises:
        ConnectorError: No usable id on the variant or its inventory item, or a weight unit Shopify's
            REST API has no name for, naming the product and the variant.
    """
    vid = legacy_id(node, "ProductVariant", pid)
    item = node.get("inventoryItem")
    weight = ((item or {}).get("measurement") or {}).get("weight") if isinstance(item, Mapping) else None
    unit, grams, value = None, 0, 0.0
    if isinstance(weight, Mapping) and weight.get("value") is not None:
        if weight.get("unit") not in UNITS:
            raise ConnectorError(f"product {pid} variant {vid}: weight unit {weight.get('unit')!r} is none of "
                                 f"{', '.join(UNITS)}", record=str(pid))
        unit, per = UNITS[weight["unit"]]
        value = float(weight["value"])
        grams = round(value * per)
    policy = node.get("inventoryPolicy")
    return {
        "id": vid, "product_id": pid, "title": node.get("title"), "price": node.get("price"),
        "sku": node.get("sku"), "position": node.get("position"),
        "inventory_policy": policy.lower() if isinstance(policy, str) else policy,
        "compare_at_price": node.get("compareAtPrice"), "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"), "taxable": node.get("taxable"), "barcode": node.get("barcode"),
        "grams": grams, "weight": value, "weight_unit": unit,
        "inventory_item_id": legacy_id(item, "InventoryItem", pid),
        "inventory_quantity": node.get("inventoryQuantity"), "admin_graphql_api_id": node.get("id"),
    }
