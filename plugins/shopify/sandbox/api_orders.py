"""Shopify REST routes for orders, fulfillment orders and fulfillments."""

from __future__ import annotations

from typing import Any

from .data import now
from .orderbook import FINANCIAL_FILTER, FULFILLMENT_FILTER, ORDER_STATUS
from .paging import list_page, parse_fields, time_filters
from .state import ShopState
from .wire import ApiError, Request, Response, id_list, int_param, json_response, not_found, word_list

_TIMES = tuple(f"{name}_{edge}" for name in ("created_at", "updated_at", "processed_at") for edge in ("min", "max"))


def order_filters(q: dict[str, str]) -> dict[str, Any]:
    """Parse the filters of ``GET orders.json`` / ``orders/count.json`` (``status`` defaults to open)."""
    f: dict[str, Any] = time_filters(q, _TIMES)
    status = q.get("status") or "open"
    if status not in ORDER_STATUS:
        raise ApiError(400, {"status": f"invalid value {status}; expected one of {', '.join(ORDER_STATUS)}"})
    f["status"] = status
    fulfillment = q.get("fulfillment_status") or "any"
    if fulfillment not in FULFILLMENT_FILTER:
        raise ApiError(400, {"fulfillment_status": (
            f"invalid value {fulfillment}; expected one of {', '.join(FULFILLMENT_FILTER)}")})
    f["fulfillment_status"] = fulfillment
    financial = word_list(q, "financial_status", FINANCIAL_FILTER)
    if financial:
        f["financial_status"] = financial
    ids, since = id_list(q, "ids"), int_param(q, "since_id")
    if ids is not None:
        f["ids"] = ids
    if since is not None:
        f["since_id"] = since
    return f


def _order(state: ShopState, raw: str) -> dict[str, Any]:
    try:
        return state.book.get(int(raw))
    except KeyError:
        raise not_found() from None


def list_orders(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders.json``: cursor-paginated, filtered orders."""
    book = state.book

    def body(ids: list[int], fields: tuple[str, ...] | None) -> bytes:
        state.count("orders_served", by=len(ids))
        return book.page_body(ids, fields)

    return list_page(req, "orders", order_filters, book.keys, body)


def count_orders(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/count.json``."""
    return json_response({"count": len(state.book.keys(order_filters(req.query)))})


def get_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/{id}.json``."""
    order = _order(state, args[0])
    fields = parse_fields(req.query)
    if fields is None:
        return Response(200, b'{"order":' + state.book.blob(state.book.pos[order["id"]]) + b"}")
    return json_response({"order": {f: order[f] for f in fields if f in order}})


def order_fulfillment_orders(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/{id}/fulfillment_orders.json``."""
    order = _order(state, args[0])
    return json_response({"fulfillment_orders": state.book.fulfillment_orders(order["id"])})


def get_fulfillment_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET fulfillment_orders/{id}.json``."""
    try:
        return json_response({"fulfillment_order": state.book.fulfillment_order(int(args[0]))})
    except KeyError:
        raise not_found() from None


def order_fulfillments(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/{id}/fulfillments.json``."""
    found = _order(state, args[0])["fulfillments"]
    since = int_param(req.query, "since_id") or 0
    fields = parse_fields(req.query)
    rows = [f if fields is None else {k: f[k] for k in fields if k in f} for f in found if f["id"] > since]
    return json_response({"fulfillments": rows})


def count_fulfillments(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/{id}/fulfillments/count.json``."""
    return json_response({"count": len(_order(state, args[0])["fulfillments"])})


def get_fulfillment(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``GET orders/{order_id}/fulfillments/{id}.json``."""
    found = next((f for f in _order(state, args[0])["fulfillments"] if str(f["id"]) == args[1]), None)
    if found is None:
        raise not_found()
    return json_response({"fulfillment": found})


def create_fulfillment(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``POST fulfillments.json`` (fulfillment-order model); 201 with the new fulfillment."""
    return json_response({"fulfillment": state.book.create_fulfillment(req.body, now())}, status=201)


def move_fulfillment_order(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``POST fulfillment_orders/{id}/move.json``: assign open line items to another location."""
    return json_response(state.book.move(int(args[0]), req.body, state.locations, now()))


def update_tracking(state: ShopState, req: Request, args: tuple[str, ...]) -> Response:
    """``POST fulfillments/{id}/update_tracking.json``."""
    return json_response({"fulfillment": state.book.update_tracking(int(args[0]), req.body, now())})


ROUTES = (
    ("GET", r"orders\.json", list_orders, "orders.json"),
    ("GET", r"orders/count\.json", count_orders, "orders/count.json"),
    ("GET", r"orders/(\d+)\.json", get_order, "orders/{id}.json"),
    ("GET", r"orders/(\d+)/fulfillment_orders\.json", order_fulfillment_orders,
     "orders/{id}/fulfillment_orders.json"),
    ("GET", r"orders/(\d+)/fulfillments\.json", order_fulfillments, "orders/{id}/fulfillments.json"),
    ("GET", r"orders/(\d+)/fulfillments/count\.json", count_fulfillments, "orders/{id}/fulfillments/count.json"),
    ("GET", r"orders/(\d+)/fulfillments/(\d+)\.json", get_fulfillment, "orders/{id}/fulfillments/{id}.json"),
    ("GET", r"fulfillment_orders/(\d+)\.json", get_fulfillment_order, "fulfillment_orders/{id}.json"),
    ("POST", r"fulfillments\.json", create_fulfillment, "fulfillments.json"),
    ("POST", r"fulfillment_orders/(\d+)/move\.json", move_fulfillment_order, "fulfillment_orders/{id}/move.json"),
    ("POST", r"fulfillments/(\d+)/update_tracking\.json", update_tracking,
     "fulfillments/{id}/update_tracking.json"),
)
