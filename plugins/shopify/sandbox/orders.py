"""Deterministic orders, their fulfillment orders, and the fulfil / cancel transitions."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .data import DAY, ORDER_T0, SHOP_ID, cents, gid, iso, money
from .wire import ApiError

FINANCIAL = ("pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided")
_FIN_WEIGHTS = (6, 6, 4, 70, 6, 4, 4)
SHIPPING = (("Standard", "Standard Shipping", 495), ("Express", "Express Shipping", 1495),
            ("DHL Express", "DHL Express Worldwide", 2495), ("UPS Ground", "UPS Ground", 995))
UNKNOWN_SHIPPING = ("Carrier Pigeon", "Carrier Pigeon (experimental)", 4200)
CARRIERS = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1={}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={}&brand=DHL",
}
FIRST = ("Ada", "Ben", "Chloe", "Dan", "Eva", "Finn", "Grace", "Hugo", "Iris", "Jon", "Kim", "Lea")
LAST = ("Smith", "Jones", "Müller", "Garcia", "Martin", "Rossi", "Novak", "Dubois", "Brown", "Lee")
CITIES = (("Ottawa", "Ontario", "ON", "Canada", "CA", "K2P 1L4"),
          ("Louisville", "Kentucky", "KY", "United States", "US", "40202"),
          ("Austin", "Texas", "TX", "United States", "US", "78701"),
          ("Berlin", None, None, "Germany", "DE", "10115"),
          ("London", "England", "ENG", "United Kingdom", "GB", "EC1A 1BB"))
ORDER_BASE = 5_600_000_000_000
LINE_BASE = 14_000_000_000_000
FO_BASE = 6_400_000_000_000
FO_LINE_BASE = 15_000_000_000_000
CUSTOMER_BASE = 7_100_000_000_000
FULFILLMENT_BASE = 5_100_000_000_000
MOVED_BASE = 6_900_000_000_000  # fulfillment orders and lines made by moves
LINE_SLOTS = 8

Pick = Callable[[random.Random], "tuple[dict[str, Any], dict[str, Any]] | None"]


def order_id(j: int) -> int:
    """Return the id of the order at position ``j`` (strictly increasing with ``j``)."""
    return ORDER_BASE + 1000 * j + (j * 31) % 997


def plan_financial(seed: int, count: int) -> list[str]:
    """Return the financial status of each generated order: every status once, then mostly paid."""
    rng = random.Random(f"financial:{seed}")
    plan = list(FINANCIAL[:count]) + rng.choices(FINANCIAL, _FIN_WEIGHTS, k=max(0, count - len(FINANCIAL)))
    rng.shuffle(plan)
    return plan


def _address(rng: random.Random, first: str, last: str) -> dict[str, Any]:
    city, prov, prov_code, country, cc, zip_code = CITIES[rng.randrange(len(CITIES))]
    return {"first_name": first, "last_name": last, "name": f"{first} {last}",
            "address1": f"{rng.randrange(1, 999)} Main Street", "address2": None, "city": city,
            "zip": zip_code, "province": prov, "province_code": prov_code, "country": country,
            "country_code": cc, "phone": f"+1-555-{rng.randrange(1000, 9999)}", "company": None,
            "latitude": None, "longitude": None}


def build_order(seed: int, j: int, created: int, financial: str, pick: Pick, location: dict[str, Any],
                shipping_code: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build the Shopify order at position ``j`` (unfulfilled, not cancelled) and its fulfillment order.

    Args:
        seed: data seed.
        j: order position; fixes its id, name and line item ids.
        created: created_at / processed_at, epoch seconds.
        financial: the order's ``financial_status``.
        pick: draws a ``(product, variant)`` for a line item, or ``None`` for a custom item.
        location: the location the fulfillment order is assigned to.
        shipping_code: force this shipping line code (known codes get their title and price).

    Returns:
        ``(order, fulfillment_order)``.
    """
    rng = random.Random(seed * 2_000_003 + j + 17)
    oid, number = order_id(j), 1001 + j
    first, last = FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))]
    email = f"{first}.{last}{rng.randrange(100)}@example.com".lower()
    shipping = _address(rng, first, last)
    lines, items, subtotal, weight = [], [], 0, 0
    for m in range(rng.choice((1, 1, 2, 2, 3, 4))):
        got = pick(rng)
        qty = rng.choice((1, 1, 1, 2, 3))
        lid = LINE_BASE + LINE_SLOTS * j + m
        if got is None:
            p, v = {"id": None, "title": "Custom item", "vendor": None}, {
                "id": None, "sku": None, "title": None, "price": "10.00", "grams": 0}
        else:
            p, v = got
        items.append(v.get("inventory_item_id"))
        price = cents(v["price"])
        subtotal += price * qty
        weight += v["grams"] * qty
        vt = None if v["title"] in (None, "Default Title") else v["title"]
        lines.append({
            "id": lid, "admin_graphql_api_id": gid("LineItem", lid), "variant_id": v["id"],
            "product_id": p["id"], "sku": v["sku"], "title": p["title"], "variant_title": vt,
            "name": f"{p['title']} - {vt}" if vt else p["title"], "vendor": p["vendor"],
            "quantity": qty, "current_quantity": qty, "fulfillable_quantity": qty,
            "fulfillment_status": None, "fulfillment_service": "manual", "grams": v["grams"],
            "price": v["price"], "total_discount": "0.00", "requires_shipping": True, "taxable": True,
            "gift_card": False, "product_exists": p["id"] is not None, "properties": [],
            "tax_lines": [], "discount_allocations": [], "duties": []})
    if shipping_code is None:
        ship = UNKNOWN_SHIPPING if j == 4 or rng.random() < 0.05 else SHIPPING[rng.randrange(len(SHIPPING))]
    else:
        ship = next((s for s in (*SHIPPING, UNKNOWN_SHIPPING) if s[0] == shipping_code),
                    (shipping_code, shipping_code, 995))
    discount = subtotal // 10 if rng.random() < 0.15 else 0
    rate = 0.08 if shipping["country_code"] == "US" else 0.0
    tax = round((subtotal - discount) * rate)
    total = subtotal - discount + ship[2] + tax
    outstanding = {"pending": total, "authorized": total, "partially_paid": total // 2}.get(financial, 0)
    current = {"refunded": 0, "voided": 0, "partially_refunded": total - subtotal // 4}.get(financial, total)
    stamp = iso(created)
    order = {
        "id": oid, "admin_graphql_api_id": gid("Order", oid), "name": f"#{number}",
        "order_number": number, "number": number - 1000, "email": email, "contact_email": email,
        "phone": None, "created_at": stamp, "updated_at": stamp, "processed_at": stamp,
        "closed_at": None, "cancelled_at": None, "cancel_reason": None, "confirmed": True,
        "test": False, "currency": "USD", "presentment_currency": "USD",
        "total_price": money(total), "subtotal_price": money(subtotal - discount),
        "total_line_items_price": money(subtotal), "total_tax": money(tax),
        "total_discounts": money(discount), "total_weight": weight,
        "current_total_price": money(current), "total_outstanding": money(outstanding),
        "financial_status": financial, "fulfillment_status": None,
        "gateway": "manual" if financial == "pending" else "shopify_payments",
        "payment_gateway_names": ["manual" if financial == "pending" else "shopify_payments"],
        "source_name": "web", "tags": "", "note": None, "note_attributes": [], "taxes_included": False,
        "customer": {"id": CUSTOMER_BASE + rng.randrange(5000), "email": email, "first_name": first,
                     "last_name": last, "phone": None, "state": "enabled", "tags": "", "currency": "USD"},
        "billing_address": dict(shipping), "shipping_address": shipping, "line_items": lines,
        "shipping_lines": [{"id": LINE_BASE + LINE_SLOTS * j + 7, "code": ship[0], "title": ship[1],
                            "price": money(ship[2]), "source": "shopify", "carrier_identifier": None,
                            "discounted_price": money(ship[2]), "tax_lines": []}],
        "tax_lines": [{"title": "Sales Tax", "price": money(tax), "rate": rate}] if tax else [],
        "discount_codes": [{"code": "WELCOME10", "amount": money(discount), "type": "percentage"}]
        if discount else [],
        "fulfillments": [], "refunds": [], "location_id": None,
    }
    return order, build_fulfillment_order(order, j, location, items)


def build_fulfillment_order(order: dict[str, Any], j: int, location: dict[str, Any],
                            items: list[int | None]) -> dict[str, Any]:
    """Return the single open fulfillment order of a fresh order at position ``j``.

    Args:
        order: the order.
        j: order position (fixes the fulfillment order and its line item ids).
        location: the assigned location.
        items: inventory item id of each order line item (``None`` for custom items).
    """
    fo_id = FO_BASE + j
    dest = order["shipping_address"] or {}
    lines = [{"id": FO_LINE_BASE + LINE_SLOTS * j + m, "shop_id": SHOP_ID, "fulfillment_order_id": fo_id,
              "quantity": li["quantity"], "line_item_id": li["id"], "inventory_item_id": items[m],
              "fulfillable_quantity": li["quantity"], "variant_id": li["variant_id"]}
             for m, li in enumerate(order["line_items"])]
    return {
        "id": fo_id, "shop_id": SHOP_ID, "order_id": order["id"], "assigned_location_id": location["id"],
        "request_status": "unsubmitted", "status": "open", "supported_actions": ["create_fulfillment"],
        "destination": {k: dest.get(k) for k in ("first_name", "last_name", "address1", "address2",
                                                   "city", "zip", "province", "country", "phone")},
        "line_items": lines, "fulfill_at": order["created_at"], "fulfill_by": None,
        "international_duties": None, "fulfillment_holds": [], "delivery_method": {"method_type": "shipping"},
        "assigned_location": {"location_id": location["id"], "name": location["name"],
                              "country_code": location["country_code"], "city": location["city"]},
        "merchant_requests": [], "created_at": order["created_at"], "updated_at": order["created_at"],
    }


def _unfulfillable(fo: dict[str, Any]) -> ApiError:
    return ApiError(422, [f"Fulfillment order {fo['id']} has an unfulfillable status= {fo['status']}."])


def fulfil(order: dict[str, Any], fos: dict[int, dict[str, Any]], requests: list[dict[str, Any]],
           tracking: dict[str, Any], fid: int, ts: int) -> dict[str, Any]:
    """Fulfil line items of ``order``'s fulfillment orders; validate everything, then apply.

    Args:
        order: the order (changed in place).
        fos: the order's fulfillment orders by id (changed in place).
        requests: ``line_items_by_fulfillment_order`` entries; an entry without
            ``fulfillment_order_line_items`` ships everything still fulfillable.
        tracking: the ``tracking_info`` object (``number``/``numbers``, ``company``, ``url``/``urls``).
        fid: id of the new fulfillment.
        ts: creation time, epoch seconds.

    Returns:
        The new fulfillment object.

    Raises:
        ApiError: 422 for a closed/cancelled fulfillment order or an invalid line item / quantity.
    """
    want: dict[int, int] = {}
    owner: dict[int, dict[str, Any]] = {}
    for req in requests:
        fo = fos[int(req["fulfillment_order_id"])]
        if fo["status"] not in ("open", "in_progress"):
            raise _unfulfillable(fo)
        by_id = {li["id"]: li for li in fo["line_items"]}
        asked = req.get("fulfillment_order_line_items")
        if not asked:
            asked = [{"id": li["id"], "quantity": li["fulfillable_quantity"]}
                     for li in fo["line_items"] if li["fulfillable_quantity"] > 0]
        for item in asked:
            try:
                li, qty = by_id[int(item["id"])], int(item["quantity"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(422, ["Invalid fulfillment order line item id."]) from None
            want[li["id"]] = want.get(li["id"], 0) + qty
            owner[li["id"]] = li
    if not want:
        raise _unfulfillable(next(iter(fos.values())))
    if any(q < 1 or q > owner[k]["fulfillable_quantity"] for k, q in want.items()):
        raise ApiError(422, ["Invalid fulfillment order line item quantity requested."])
    lines = {li["id"]: li for li in order["line_items"]}
    shipped = []
    for key, qty in want.items():
        foli = owner[key]
        foli["fulfillable_quantity"] -= qty
        li = lines[foli["line_item_id"]]
        li["fulfillable_quantity"] = max(0, li["fulfillable_quantity"] - qty)
        li["fulfillment_status"] = "fulfilled" if li["fulfillable_quantity"] == 0 else "partial"
        shipped.append(dict(li, quantity=qty))
    stamp = iso(ts)
    for fo in fos.values():
        if fo["status"] in ("open", "in_progress") and any(owner.get(x["id"]) for x in fo["line_items"]):
            done = all(x["fulfillable_quantity"] == 0 for x in fo["line_items"])
            fo["status"] = "closed" if done else "in_progress"
            fo["supported_actions"] = [] if done else ["create_fulfillment"]
            fo["updated_at"] = stamp
    all_done = all(li["fulfillable_quantity"] == 0 for li in order["line_items"])
    order["fulfillment_status"] = "fulfilled" if all_done else "partial"
    order["updated_at"] = stamp
    numbers = tracking.get("numbers") or ([tracking["number"]] if tracking.get("number") else [])
    company = tracking.get("company")
    urls = tracking.get("urls") or ([tracking["url"]] if tracking.get("url") else [])
    if not urls and company in CARRIERS:
        urls = [CARRIERS[company].format(n) for n in numbers]
    location = fos[int(requests[0]["fulfillment_order_id"])]["assigned_location_id"]
    fulfillment = {
        "id": fid, "order_id": order["id"], "status": "success", "created_at": stamp, "service": "manual",
        "updated_at": stamp, "tracking_company": company, "shipment_status": None, "location_id": location,
        "origin_address": None, "line_items": shipped, "tracking_number": numbers[0] if numbers else None,
        "tracking_numbers": numbers, "tracking_url": urls[0] if urls else None, "tracking_urls": urls,
        "receipt": {}, "name": f"{order['name']}.{len(order['fulfillments']) + 1}",
        "admin_graphql_api_id": gid("Fulfillment", fid)}
    order["fulfillments"].append(fulfillment)
    return fulfillment


def move(fos: dict[int, dict[str, Any]], fo: dict[str, Any], location: dict[str, Any], asked: Any,
         ids: Callable[[], int], ts: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Assign open line items of ``fo`` to ``location`` (``POST fulfillment_orders/{id}/move.json``).

    As Shopify does: with no ``asked`` line items and nothing of ``fo`` fulfilled yet,
    ``fo`` itself is re-assigned; otherwise the moved quantities go to a new
    fulfillment order at ``location`` and ``fo`` keeps the rest (closed if nothing is left).

    Args:
        fos: the order's fulfillment orders by id (changed in place).
        fo: the fulfillment order to move from.
        location: the destination location.
        asked: ``fulfillment_order_line_items`` (``[{id, quantity}]``) or None for every open line.
        ids: hands out fresh ids (fulfillment order and line ids).
        ts: epoch seconds.

    Returns:
        ``(original, moved, remaining)`` as the API answers them.

    Raises:
        ApiError: 422 when the fulfillment order is not open, already at ``location``, or a
            line item / quantity is not open on it.
    """
    if fo["status"] not in ("open", "in_progress") or fo["assigned_location_id"] == location["id"]:
        raise ApiError(422, ["Cannot change location."])
    stamp = iso(ts)
    where = {"location_id": location["id"], "name": location["name"],
             "country_code": location["country_code"], "city": location["city"]}
    untouched = all(li["fulfillable_quantity"] == li["quantity"] for li in fo["line_items"])
    if not asked and untouched:
        fo.update(assigned_location_id=location["id"], assigned_location=where, updated_at=stamp)
        return fo, fo, None
    by_id = {li["id"]: li for li in fo["line_items"]}
    wanted: dict[int, int] = {}
    for item in asked or [{"id": k, "quantity": li["fulfillable_quantity"]} for k, li in by_id.items()]:
        try:
            li, qty = by_id[int(item["id"])], int(item["quantity"])
        except (KeyError, TypeError, ValueError):
            raise ApiError(422, ["Invalid fulfillment order line item id."]) from None
        if qty < 0 or qty > li["fulfillable_quantity"]:
            raise ApiError(422, ["Invalid fulfillment order line item quantity requested."])
        if qty:
            wanted[li["id"]] = qty
    if not wanted:
        raise ApiError(422, ["Cannot change location."])
    new_id = ids()
    lines = []
    for key, qty in wanted.items():
        li = by_id[key]
        li["quantity"] -= qty
        li["fulfillable_quantity"] -= qty
        lines.append(dict(li, id=ids(), fulfillment_order_id=new_id, quantity=qty, fulfillable_quantity=qty))
    moved = dict(fo, id=new_id, assigned_location_id=location["id"], assigned_location=where, status="open",
                 supported_actions=["create_fulfillment"], line_items=lines, created_at=stamp, updated_at=stamp)
    fo["line_items"] = [li for li in fo["line_items"] if li["quantity"] > 0]
    left = any(li["fulfillable_quantity"] > 0 for li in fo["line_items"])
    fo.update(updated_at=stamp, **({} if left else {"status": "closed", "supported_actions": []}))
    fos[new_id] = moved
    return fo, moved, fo if left else None


def cancel(order: dict[str, Any], fos: dict[int, dict[str, Any]], reason: str, ts: int) -> None:
    """Cancel ``order`` at ``ts``: nothing stays fulfillable and its fulfillment orders close."""
    stamp = iso(ts)
    order.update(cancelled_at=stamp, cancel_reason=reason, updated_at=stamp)
    for li in order["line_items"]:
        li["fulfillable_quantity"] = 0
    for fo in fos.values():
        if fo["status"] != "closed":
            fo.update(status="closed", supported_actions=[], updated_at=stamp)
            for x in fo["line_items"]:
                x["fulfillable_quantity"] = 0


def history(rng: random.Random, order: dict[str, Any], created: int) -> tuple[str, int, str | None]:
    """Draw what happened to a generated order after creation.

    Returns:
        ``(event, ts, detail)``: event ``none``, ``fulfil`` (detail = carrier), ``partial``
        (detail = carrier) or ``cancel`` (detail = reason); ts = when it happened.
    """
    fin, r = order["financial_status"], rng.random()
    ts = created + rng.randrange(DAY // 4, 6 * DAY)
    carrier = tuple(CARRIERS)[rng.randrange(len(CARRIERS))]
    if fin == "voided" or (fin == "refunded" and r < 0.6) or (fin == "pending" and r < 0.15):
        return "cancel", ts, ("customer", "inventory", "fraud", "declined", "other")[rng.randrange(5)]
    if (fin == "paid" and r < 0.18) or (fin in ("partially_refunded", "refunded") and r < 0.8):
        return "fulfil", ts, carrier
    if fin == "paid" and r < 0.22:
        return "partial", ts, carrier
    return "none", ts, None


def initial_times(seed: int, count: int) -> list[int]:
    """Return ascending creation times of the generated orders, spread over 2024."""
    rng = random.Random(f"order-times:{seed}")
    step = max(1, 360 * DAY // max(count, 1))
    return [ORDER_T0 + j * step + rng.randrange(step) for j in range(count)]
