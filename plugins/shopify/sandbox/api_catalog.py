"""Shopify REST routes for the shop, products, variants, images, locations and inventory."""

from __future__ import annotations

from typing import Any

from .data import dumps, now
from .paging import list_page, parse_fields, time_filters
from .state import ShopState
from .wire import ApiError, Request, Response, id_list, int_param, json_response, missing, not_found, word_list

PRODUCT_STATUS = ("active", "archived", "draft")
MAX_ITEM_IDS = 100


def _product_index(state: ShopState, raw: str) -> int:
    try:
        return state.catalog.find(int(raw))
    except KeyError:
        raise not_found() from None


def _select(obj: dict[str, Any], fields: tuple[str, ...] | None) -> dict[str, Any]:
    return obj if fields is None else {f: obj[f] for f in fields if f in obj}


def product_filters(q: dict[str, str]) -> dict[str, Any]:
    """Parse the filters of ``GET products.json`` / ``products/count.json``."""
    f: dict[str, Any] = time_filters(q, ("created_at_min", "created_at_max", "updated_at_min", "updated_at_max"))
    ids, since, status = id_list(q, "ids"), int_param(q, "since_id"), word_list(q, "status", PRODUCT_STATUS)
    if ids is not None:
        f["ids"] = ids
    if since is not None:
        f["since_id"] = since
    if status:
        f["status"] = status
    return f


def get_shop(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET shop.json``."""
    return json_response({"shop": state.shop()})


def access_scopes(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET /admin/oauth/access_scopes.json`` (unversioned, like the real endpoint)."""
    return json_response({"access_scopes": [{"handle": h} for h in state.scopes]})


def list_products(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET products.json``: cursor-paginated, filtered products."""
    cat = state.catalog

    def body(ids: list[int], fields: tuple[str, ...] | None) -> bytes:
        state.count("products_served", by=len(ids))
        return cat.page_body(ids, fields)

    return list_page(req, "products", product_filters, cat.keys, body)


def count_products(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET products/count.json``."""
    return json_response({"count": len(state.catalog.keys(product_filters(req.query)))})


def get_product(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET products/{id}.json``."""
    i = _product_index(state, args[0])
    fields = parse_fields(req.query)
    if fields is None:
        return Response(200, b'{"product":' + state.catalog.blob(i) + b"}")
    return json_response({"product": _select(state.catalog.rest_product(i), fields)})


def product_images(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET products/{id}/images.json``."""
    images = state.catalog.product(_product_index(state, args[0]))["images"]
    since = int_param(req.query, "since_id") or 0
    fields = parse_fields(req.query)
    return json_response({"images": [_select(im, fields) for im in images if im["id"] > since]})


def product_variants(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET products/{id}/variants.json`` (at most the first 100, as every REST endpoint shows)."""
    variants = state.catalog.rest_product(_product_index(state, args[0]))["variants"]
    fields = parse_fields(req.query)
    return json_response({"variants": [_select(v, fields) for v in variants]})


def get_variant(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET variants/{id}.json`` (404 past a product's 100th variant: the REST API does not show those)."""
    try:
        _, _, variant = state.catalog.variant(int(args[0]), rest=True)
    except KeyError:
        raise not_found() from None
    return json_response({"variant": _select(variant, parse_fields(req.query))})


def list_locations(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET locations.json``."""
    return json_response({"locations": state.locations})


def count_locations(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET locations/count.json``."""
    return json_response({"count": len(state.locations)})


def _location(state: ShopState, raw: str) -> dict[str, Any]:
    loc = next((x for x in state.locations if str(x["id"]) == raw), None)
    if loc is None:
        raise not_found()
    return loc


def get_location(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET locations/{id}.json``."""
    return json_response({"location": _location(state, args[0])})


def list_inventory_items(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET inventory_items.json?ids=`` (ids required, at most 100)."""
    cat = state.catalog

    def filters(q: dict[str, str]) -> dict[str, Any]:
        ids = id_list(q, "ids")
        if not ids:
            raise missing("ids")
        if len(ids) > MAX_ITEM_IDS:
            raise ApiError(422, {"ids": [f"must not list more than {MAX_ITEM_IDS} ids"]})
        return {"ids": ids}

    def body(ids: list[int], fields: tuple[str, ...] | None) -> bytes:
        return dumps({"inventory_items": [_select(cat.inventory_item(x), fields) for x in ids]})

    return list_page(req, "inventory_items", filters,
                     lambda f: [x for x in f["ids"] if cat.item_ref(x)], body)


def get_inventory_item(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET inventory_items/{id}.json``."""
    iid = int(args[0])
    if not state.catalog.item_ref(iid):
        raise not_found()
    return json_response({"inventory_item": state.catalog.inventory_item(iid)})


def _levels(state: ShopState, req: Request, forced_location: int | None) -> Response:
    cat = state.catalog

    def filters(q: dict[str, str]) -> dict[str, Any]:
        items, locs = id_list(q, "inventory_item_ids"), id_list(q, "location_ids")
        if forced_location is not None:
            locs = [forced_location]
        if items is None and locs is None:
            raise ApiError(422, ["inventory_item_ids, location_ids, or both must be provided"])
        return {"items": items, "locs": locs, **time_filters(q, ("updated_at_min",))}

    def keys(f: dict[str, Any]) -> list[tuple[int, int]]:
        return cat.level_keys(f["items"], f["locs"], f.get("updated_at_min"))

    def body(page: list[tuple[int, int]], fields: tuple[str, ...] | None) -> bytes:
        return dumps({"inventory_levels": [_select(cat.level(iid, loc), fields) for iid, loc in page]})

    return list_page(req, "inventory_levels", filters, keys, body)


def list_inventory_levels(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET inventory_levels.json`` (inventory_item_ids and/or location_ids required)."""
    return _levels(state, req, None)


def location_levels(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET locations/{id}/inventory_levels.json``."""
    return _levels(state, req, _location(state, args[0])["id"])


def set_inventory_level(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``POST inventory_levels/set.json``: set ``available`` (connects the location if needed)."""
    body = req.body if isinstance(req.body, dict) else {}
    values = {}
    for name in ("location_id", "inventory_item_id", "available"):
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise missing(name)
        values[name] = value
    cat, iid, loc = state.catalog, values["inventory_item_id"], values["location_id"]
    if not cat.item_ref(iid):
        raise ApiError(422, [f"Inventory item {iid} does not exist"])
    if loc not in cat.location_ids:
        raise ApiError(422, [f"Location {loc} does not exist or is not active"])
    level = cat.set_level(iid, loc, values["available"], now())
    return json_response({"inventory_level": level})


ROUTES = (
    ("GET", r"shop\.json", get_shop, "shop.json"),
    ("GET", r"oauth/access_scopes\.json", access_scopes, "oauth/access_scopes.json"),
    ("GET", r"products\.json", list_products, "products.json"),
    ("GET", r"products/count\.json", count_products, "products/count.json"),
    ("GET", r"products/(\d+)\.json", get_product, "products/{id}.json"),
    ("GET", r"products/(\d+)/images\.json", product_images, "products/{id}/images.json"),
    ("GET", r"products/(\d+)/variants\.json", product_variants, "products/{id}/variants.json"),
    ("GET", r"variants/(\d+)\.json", get_variant, "variants/{id}.json"),
    ("GET", r"locations\.json", list_locations, "locations.json"),
    ("GET", r"locations/count\.json", count_locations, "locations/count.json"),
    ("GET", r"locations/(\d+)\.json", get_location, "locations/{id}.json"),
    ("GET", r"locations/(\d+)/inventory_levels\.json", location_levels, "locations/{id}/inventory_levels.json"),
    ("GET", r"inventory_items\.json", list_inventory_items, "inventory_items.json"),
    ("GET", r"inventory_items/(\d+)\.json", get_inventory_item, "inventory_items/{id}.json"),
    ("GET", r"inventory_levels\.json", list_inventory_levels, "inventory_levels.json"),
    ("POST", r"inventory_levels/set\.json", set_inventory_level, "inventory_levels/set.json"),
)
