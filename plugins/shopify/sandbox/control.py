"""The sandbox's own HTTP control interface under ``/__sandbox/`` (not part of Shopify; no auth).

=======  ==========================  ===============================================
Method   Path                        Effect
=======  ==========================  ===============================================
GET      info                        counts, versions, location ids, a token hint
POST     orders/{id}                 set top-level order fields (JSON body)
POST     orders/{id}/cancel          cancel (optional body ``{"reason": ...}``)
POST     orders                      add an order (optional body of fields)
POST     products/{id}               set product fields; ``variants`` maps variant id to fields
GET      products/{id}               the product with every variant (REST shows at most 100)
POST     products/{id}/variants      ``{"count": n}``: give the product n variants (1..2048)
POST     products                    add a product (optional body of fields)
POST     products/touch?pct=1        change pct% of products; answers ``{"changed": n}``
GET      writes / DELETE writes      the non-GET API request log / empty it
GET      stats / DELETE stats        request counters / zero them
GET      faults / POST faults        fault switches / set them (body as ``set_faults``)
DELETE   faults                      switch every fault off
POST     rate_limit                  ``{"enabled": bool}`` (the REST bucket and the GraphQL cost limit)
GET      graphql_limit               the GraphQL cost bucket: enabled, maximum, restore_rate, available
POST     graphql_limit               set some of those (and ``throttle_status``: 200 or 429)
POST     graphql_limit/pass          ``{"seconds": s}``: refill the bucket as if s seconds had passed
GET      inventory?inventory_item_id=&location_id=   ``{"available": int|null}``
=======  ==========================  ===============================================
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .state import ShopState
from .wire import ApiError, Request, Response, int_param, json_response, not_found

PREFIX = "/__sandbox/"
Handler = Callable[[ShopState, Request, tuple[str, ...]], Any]


def _fields(req: Request) -> dict[str, Any]:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise ApiError(400, {"body": "expected a JSON object"})
    return dict(req.body)


def _set_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    return {"order": state.set_order(int(args[0]), **_fields(req))}


def _cancel_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    return {"order": state.cancel_order(int(args[0]), str(_fields(req).get("reason", "other")))}


def _add_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    try:
        return {"order": state.add_order(**_fields(req))}
    except ValueError as exc:
        raise ApiError(400, {"financial_status": str(exc)}) from None


def _edit_product(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    fields = _fields(req)
    variants = fields.pop("variants", None)
    if variants is not None and not isinstance(variants, dict):
        raise ApiError(400, {"variants": "expected an object of variant id to fields"})
    return {"product": state.edit_product(int(args[0]), variants=variants, **fields)}


def _resize(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    count = _fields(req).get("count")
    try:
        product = state.set_variant_count(int(args[0]), count)
    except ValueError as exc:
        raise ApiError(400, {"count": str(exc)}) from None
    return {"product_id": product["id"], "variants": len(product["variants"])}


def _graphql_limit(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    try:
        return state.cost_bucket.set(**_fields(req))
    except ValueError as exc:
        raise ApiError(400, {"graphql_limit": str(exc)}) from None


def _pass_time(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    seconds = _fields(req).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ApiError(400, {"seconds": "expected a number of seconds >= 0"})
    state.cost_bucket.pass_time(float(seconds))
    return state.cost_bucket.snapshot()


def _add_product(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    return {"product": state.add_product(**_fields(req))}


def _touch(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    try:
        pct = float(req.query.get("pct", "1"))
    except ValueError:
        raise ApiError(400, {"pct": "expected a number"}) from None
    return {"changed": state.touch_products(pct)}


def _reset_writes(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    state.reset_writes()
    return {}


def _reset_stats(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    state.reset_stats()
    return {}


def _set_faults(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    try:
        return {"faults": state.faults.set(**_fields(req))}
    except (TypeError, ValueError) as exc:
        raise ApiError(400, {"faults": str(exc)}) from None


def _clear_faults(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    state.faults.clear()
    return {"faults": state.faults.snapshot()}


def _rate_limit(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    enabled = _fields(req).get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError(400, {"enabled": "expected true or false"})
    state.bucket.set_enabled(enabled)
    state.cost_bucket.set_enabled(enabled)
    return {"enabled": enabled}


def _inventory(state: ShopState, req: Request, args: tuple[str, ...]) -> Any:
    item, loc = int_param(req.query, "inventory_item_id"), int_param(req.query, "location_id")
    if item is None or loc is None:
        raise ApiError(400, {"inventory_item_id": "inventory_item_id and location_id are required"})
    return {"available": state.inventory(item, loc)}


ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = tuple(
    (method, re.compile(pattern + "$"), handler) for method, pattern, handler in (
        ("GET", r"info", lambda s, r, a: s.info()),
        ("POST", r"orders/(\d+)", _set_order),
        ("POST", r"orders/(\d+)/cancel", _cancel_order),
        ("POST", r"orders", _add_order),
        ("POST", r"products/touch", _touch),
        ("POST", r"products/(\d+)", _edit_product),
        ("GET", r"products/(\d+)", lambda s, r, a: {"product": s.product(int(a[0]))}),
        ("POST", r"products/(\d+)/variants", _resize),
        ("POST", r"products", _add_product),
        ("GET", r"writes", lambda s, r, a: {"writes": s.writes()}),
        ("DELETE", r"writes", _reset_writes),
        ("GET", r"stats", lambda s, r, a: s.stats()),
        ("DELETE", r"stats", _reset_stats),
        ("GET", r"faults", lambda s, r, a: s.faults.snapshot()),
        ("POST", r"faults", _set_faults),
        ("DELETE", r"faults", _clear_faults),
        ("POST", r"rate_limit", _rate_limit),
        ("GET", r"graphql_limit", lambda s, r, a: s.cost_bucket.snapshot()),
        ("POST", r"graphql_limit", _graphql_limit),
        ("POST", r"graphql_limit/pass", _pass_time),
        ("GET", r"inventory", _inventory),
    ))


def handle_control(state: ShopState, req: Request) -> Response:
    """Dispatch one ``/__sandbox/...`` request.

    Raises:
        ApiError: 404 for an unknown path or id, 400 for a bad body.
    """
    rest = req.path[len(PREFIX):].rstrip("/")
    for method, pattern, handler in ROUTES:
        m = pattern.match(rest)
        if m and method == req.method:
            try:
                return json_response(handler(state, req, m.groups()))
            except KeyError:
                raise not_found() from None
            except TypeError as exc:
                raise ApiError(400, {"body": str(exc)}) from None
    raise not_found()
