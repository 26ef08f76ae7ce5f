"""Writes to Shopify: stock levels (inventory_levels/set) and fulfillments with tracking, each idempotent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from engine.connector import WriteOutcome
from engine.errors import ConnectorError, RecordError, RemoteRejected, TransientError
from engine.http import Retrier
from plugins.shopify.client import ShopifyClient

#: Fulfillment order statuses a fulfillment may still be created on.
OPEN_FO = ("open", "in_progress")


def write_inventory(client: ShopifyClient, records: Sequence[Mapping[str, Any]],
                    location_id: int) -> list[WriteOutcome]:
    """Set ``available`` of each record's inventory item at its location (one POST each).

    Setting an absolute quantity is idempotent, so a transient failure is retried.
    A 422 (or another 4xx) fails that record alone, with Shopify's own message.

    Args:
        client: The shop.
        records: ``{inventory_item_id, available, location_id?}``.
        location_id: The managed location, for records that name none.
    """
    out = []
    for record in records:
        key = str(record.get("inventory_item_id"))
        try:
            item = _int(record, "inventory_item_id")
            available = _int(record, "available")
            location = _int(record, "location_id") if record.get("location_id") is not None else location_id
            answer = client.post("inventory_levels/set.json", {
                "location_id": location, "inventory_item_id": item, "available": available})
        except (RemoteRejected, RecordError) as exc:
            out.append(WriteOutcome(key=key, action="error", error=exc))
            continue
        level = answer.get("inventory_level") or {}
        out.append(WriteOutcome(key=key, action="updated",
                                remote_id=str(level.get("inventory_item_id", item))))
    return out


def write_fulfillments(client: ShopifyClient, records: Sequence[Mapping[str, Any]],
                       retrier: Retrier, location_id: int) -> list[WriteOutcome]:
    """Create one fulfillment with tracking per record, never twice for the same tracking number.

    The hub ships from the managed location, so only fulfillment orders assigned
    to it are fulfilled (Shopify takes one location per fulfillment). A shipment
    of the whole order whose open fulfillment orders are (partly) assigned to
    other locations is refused with the locations named, before anything is sent:
    a person moves them in Shopify, or sends the shipment's lines.

    Before posting, the order's fulfillments are read: one carrying the same
    tracking number means a previous run already pushed it (``unchanged``). A POST
    that was surely not applied (429, or no connection made) is sent again. One whose
    answer was lost (a timeout, a 5xx, a connection broken mid-response) may have
    been applied, possibly seconds later: it is never sent again in this run. The
    order is re-read on each of the retrier's attempts, and the fulfillment counts as
    created once it shows; if it never does, the run stops with a TransientError and
    the next run reads the order before it sends anything.

    Args:
        client: The shop.
        records: ``{order_id, tracking_number, tracking_company, tracking_url?,
            notify_customer?, lines?: [{sku | variant_id, quantity}]}``.
        retrier: Paces the re-checks after a transient POST failure.
        location_id: The managed location (where the hub's shipments leave from).
    """
    out = []
    for record in records:
        key = str(record.get("order_id"))
        try:
            out.append(_fulfil(client, record, key, retrier, location_id))
        except (RemoteRejected, RecordError) as exc:
            out.append(WriteOutcome(key=key, action="error", error=exc))
        except ConnectorError as exc:
            if exc.status != 404:
                raise
            gone = RemoteRejected(f"order {key} does not exist in Shopify ({exc.message})", status=404,
                                  url=exc.url, record=key)
            out.append(WriteOutcome(key=key, action="error", error=gone))
    return out


def order_fulfillments(client: ShopifyClient, order_id: int) -> list[dict[str, Any]]:
    """Every fulfillment of an order."""
    return list(client.each(f"orders/{order_id}/fulfillments.json", "fulfillments"))


def _fulfil(client: ShopifyClient, record: Mapping[str, Any], key: str, retrier: Retrier,
            location_id: int) -> WriteOutcome:
    order_id = _int(record, "order_id")
    number = str(record.get("tracking_number") or "").strip()
    if not number:
        raise RecordError(f"order {order_id}: tracking_number is empty; a fulfillment needs one", record=key)
    existing = _find(client, order_id, number)
    if existing is not None:
        return WriteOutcome(key=key, action="unchanged", remote_id=str(existing["id"]))
    fos = client.get(f"orders/{order_id}/fulfillment_orders.json").get("fulfillment_orders") or []
    open_fos = [fo for fo in fos if fo.get("status") in OPEN_FO
                and "create_fulfillment" in fo.get("supported_actions", ["create_fulfillment"])]
    if not open_fos:
        states = ", ".join(sorted({str(fo.get("status")) for fo in fos})) or "none"
        raise RemoteRejected(
            f"order {order_id} has no open fulfillment order (status: {states}) and no fulfillment with "
            f"tracking number {number}: it was fulfilled or cancelled in Shopify; nothing was sent",
            record=key)
    here = [fo for fo in open_fos if fo.get("assigned_location_id") == location_id]
    elsewhere = [fo for fo in open_fos if fo.get("assigned_location_id") != location_id]
    if not here or (elsewhere and not record.get("lines")):
        raise RemoteRejected(
            f"order {order_id} has open fulfillment orders assigned to {_locations(elsewhere)}, not to the "
            f"managed location {location_id} the hub ships from; move them to it in Shopify "
            f"(or ship the order's lines one by one); nothing was sent", record=key)
    tracking = {"number": number, "company": record.get("tracking_company") or None}
    if record.get("tracking_url"):
        tracking["url"] = record["tracking_url"]
    body = {"fulfillment": {
        "notify_customer": bool(record.get("notify_customer", False)),
        "tracking_info": {k: v for k, v in tracking.items() if v is not None},
        "line_items_by_fulfillment_order": _allocate(client, order_id, here, record.get("lines"), key, elsewhere),
    }}

    uncertain = False  # an earlier POST of this call failed in a way that may have applied it

    def post() -> WriteOutcome:
        nonlocal uncertain
        if uncertain:  # look, never send again: a late-applied POST and a repeat would fulfil twice
            found = _find(client, order_id, number)
            if found is not None:
                return WriteOutcome(key=key, action="created", remote_id=str(found["id"]))
            raise TransientError(
                f"order {order_id}: the shop's answer to the fulfillment with tracking number {number} was lost "
                "and the order does not show it (yet); it is not sent again in this run: the next run reads the "
                "order first", record=key)
        try:
            created = client.post("fulfillments.json", body, retry=False)["fulfillment"]
        except TransientError as exc:
            uncertain = not _never_sent(exc)
            raise
        return WriteOutcome(key=key, action="created", remote_id=str(created["id"]))

    return retrier.call(post)


def _never_sent(exc: TransientError) -> bool:
    """Whether a failed request surely did nothing: throttled (429) or no connection was made."""
    return exc.status == 429 or isinstance(exc.__cause__, (httpx.ConnectError, httpx.ConnectTimeout))


def _find(client: ShopifyClient, order_id: int, number: str) -> dict[str, Any] | None:
    for fulfillment in order_fulfillments(client, order_id):
        numbers = fulfillment.get("tracking_numbers") or [fulfillment.get("tracking_number")]
        if number in numbers and fulfillment.get("status") not in ("cancelled", "error", "failure"):
            return fulfillment
    return None


def _locations(fos: list[dict[str, Any]]) -> str:
    """``location 123 ('Downtown Store'), ...`` for the fulfillment orders' assigned locations."""
    named = {fo.get("assigned_location_id"): (fo.get("assigned_location") or {}).get("name") for fo in fos}
    return ", ".join(f"location {loc}" + (f" ({name!r})" if name else "") for loc, name in named.items())


def _allocate(client: ShopifyClient, order_id: int, fos: list[dict[str, Any]], lines: Any,
              key: str, elsewhere: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``line_items_by_fulfillment_order``: everything still open, or the record's lines spread over FO lines."""
    if not lines:
        return [{"fulfillment_order_id": fo["id"]} for fo in fos]
    fo_lines = [(fo["id"], li) for fo in fos for li in fo.get("line_items", [])
                if li.get("fulfillable_quantity", 0) > 0]
    by_sku: dict[str, int] = {}
    if any(line.get("variant_id") is None for line in lines):
        order = client.get(f"orders/{order_id}.json", {"fields": "id,line_items"}).get("order") or {}
        by_sku = {li["sku"]: li["variant_id"] for li in order.get("line_items", []) if li.get("sku")}
    left = {id(li): li["fulfillable_quantity"] for _, li in fo_lines}
    chosen: dict[int, dict[int, int]] = {}
    for line in lines:
        variant = line.get("variant_id")
        if variant is None:
            variant = by_sku.get(str(line.get("sku")))
            if variant is None:
                raise RecordError(f"order {order_id}: line with sku {line.get('sku')!r} is not on the order "
                                  f"(skus on it: {', '.join(sorted(by_sku)) or 'none'})", record=key)
        quantity = int(line.get("quantity") or 0)
        for fo_id, li in _lines_of(fo_lines, int(variant)):
            take = min(quantity, left[id(li)])
            if take > 0:
                left[id(li)] -= take
                quantity -= take
                per_fo = chosen.setdefault(fo_id, {})
                per_fo[li["id"]] = per_fo.get(li["id"], 0) + take
        if quantity > 0:
            other = [fo for fo in elsewhere if any(li.get("variant_id") == int(variant)
                                                   for li in fo.get("line_items", []))]
            where = (f"; the rest is assigned to {_locations(other)}: move it to the managed location in Shopify"
                     if other else "")
            raise RecordError(f"order {order_id}: {quantity} more of variant {variant} than Shopify still "
                              f"has open to fulfil at the managed location{where}; nothing was sent", record=key)
    return [{"fulfillment_order_id": fo_id,
             "fulfillment_order_line_items": [{"id": li, "quantity": q} for li, q in items.items()]}
            for fo_id, items in chosen.items()]


def _lines_of(fo_lines: list[tuple[int, dict[str, Any]]], variant: int) -> Iterator[tuple[int, dict[str, Any]]]:
    return ((fo_id, li) for fo_id, li in fo_lines if li.get("variant_id") == variant)


def _int(record: Mapping[str, Any], field: str) -> int:
    value = record.get(field)
    try:
        if isinstance(value, bool):
            raise TypeError(field)
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecordError(f"{field} must be an integer, got {value!r}", field=field) from None
