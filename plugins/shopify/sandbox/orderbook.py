"""Orders of one sandbox shop with their fulfillment orders, fulfillments and list filters."""

from __future__ import annotations

import random
from typing import Any

import orjson

from .catalog import Catalog
from .data import DAY, dumps, iso, parse_ts
from .orders import (
    FULFILLMENT_BASE,
    MOVED_BASE,
    build_order,
    cancel,
    fulfil,
    history,
    initial_times,
    move,
    order_id,
    plan_financial,
)
from .wire import ApiError, not_found

ORDER_STATUS = ("open", "closed", "cancelled", "any")
FINANCIAL_FILTER = ("authorized", "pending", "paid", "partially_paid", "refunded", "voided",
                    "partially_refunded", "any", "unpaid")
FULFILLMENT_FILTER = ("shipped", "partial", "unshipped", "unfulfilled", "any")
_TIME_COLUMNS = ("created_at", "updated_at", "processed_at")


class OrderBook:
    """Orders kept as dicts (they change often), with cached bytes and per-order fulfillment orders.

    Args:
        count: number of generated orders.
        seed: data seed.
        catalog: products the line items reference.
        location: the location fulfillment orders are assigned to.
    """

    def __init__(self, count: int, seed: int, catalog: Catalog, location: dict[str, Any]) -> None:
        self.seed = seed
        self.catalog = catalog
        self.location = location
        self._products = len(catalog.ids)
        self.orders: list[dict[str, Any]] = []
        self.ids: list[int] = []
        self.pos: dict[int, int] = {}
        self.blobs: list[bytes | None] = []
        self.times: dict[str, list[int]] = {name: [] for name in _TIME_COLUMNS}
        self.fos: dict[int, dict[int, dict[str, Any]]] = {}
        self.fo_owner: dict[int, int] = {}
        self.next_fulfillment = FULFILLMENT_BASE + 1
        self.next_id = MOVED_BASE + 1  # fulfillment orders (and their lines) made by moves
        self.version = 0
        self._keys: dict[bytes, list[int]] = {}
        times, plan = initial_times(seed, count), plan_financial(seed, count)
        for j in range(count):
            order, fo = build_order(seed, j, times[j], plan[j], self._pick, location)
            self._append(order, fo)
            self._replay(j, times[j])

    def _pick(self, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not self._products:
            return None
        status = self.catalog.status
        i = rng.randrange(self._products)
        for _ in range(3):
            if status[i] == "active":
                break
            i = rng.randrange(self._products)
        p = self.catalog.product(i)
        return p, p["variants"][rng.randrange(len(p["variants"]))]

    def _append(self, order: dict[str, Any], fo: dict[str, Any]) -> None:
        self.pos[order["id"]] = len(self.orders)
        self.orders.append(order)
        self.ids.append(order["id"])
        self.blobs.append(None)
        for name in _TIME_COLUMNS:
            self.times[name].append(0)
        self.fos[order["id"]] = {fo["id"]: fo}
        self.fo_owner[fo["id"]] = order["id"]
        self._changed(order)

    def _replay(self, j: int, created: int) -> None:
        """Apply the drawn after-sale history (cancel, fulfil, archive) to generated order ``j``."""
        order = self.orders[j]
        fos = self.fos[order["id"]]
        rng = random.Random(self.seed * 3_000_017 + j)
        event, ts, detail = history(rng, order, created)
        if event == "cancel":
            cancel(order, fos, detail or "other", ts)
        elif event in ("fulfil", "partial"):
            fo = next(iter(fos.values()))
            req: dict[str, Any] = {"fulfillment_order_id": fo["id"]}
            first = fo["line_items"][0]
            if event == "partial" and (first["quantity"] > 1 or len(fo["line_items"]) > 1):
                req["fulfillment_order_line_items"] = [{"id": first["id"], "quantity": 1}]
            number = f"1Z{rng.randrange(10**15):015d}"
            fulfil(order, fos, [req], {"number": number, "company": detail}, self._fid(), ts)
            if event == "fulfil" and order["fulfillment_status"] == "fulfilled" and rng.random() < 0.5:
                order["closed_at"] = order["updated_at"] = iso(ts + DAY)
        else:
            order["updated_at"] = iso(created + rng.randrange(3 * DAY))
        self._changed(order)

    def _fid(self) -> int:
        fid, self.next_fulfillment = self.next_fulfillment, self.next_fulfillment + 1
        return fid

    def _changed(self, order: dict[str, Any]) -> None:
        j = self.pos[order["id"]]
        self.blobs[j] = None
        for name in _TIME_COLUMNS:
            self.times[name][j] = parse_ts(order[name])
        self.version += 1

    # -- reads --------------------------------------------------------------------------------
    def get(self, oid: int) -> dict[str, Any]:
        """Return the live order dict.

        Raises:
            KeyError: unknown order id.
        """
        return self.orders[self.pos[oid]]

    def blob(self, j: int) -> bytes:
        """Return the serialised order at position ``j``."""
        b = self.blobs[j]
        if b is None:
            b = self.blobs[j] = dumps(self.orders[j])
        return b

    def page_body(self, ids: list[int], fields: tuple[str, ...] | None) -> bytes:
        """Return ``{"orders":[...]}`` for ``ids``."""
        pos = self.pos
        if fields is None:
            parts = [self.blob(pos[oid]) for oid in ids]
        else:
            parts = [dumps({f: o[f] for f in fields if f in o}) for o in (self.orders[pos[x]] for x in ids)]
        return b'{"orders":[' + b",".join(parts) + b"]}"

    def keys(self, f: dict[str, Any]) -> list[int]:
        """Return ids (ascending) of orders matching the filters ``f`` (see ``orders_filters``)."""
        ck = orjson.dumps([self.version, f], option=orjson.OPT_SORT_KEYS)
        hit = self._keys.get(ck)
        if hit is not None:
            return hit
        status = f.get("status", "open")
        fin = set(f.get("financial_status") or ())
        if "unpaid" in fin:
            fin |= {"authorized", "partially_paid"}
        if "any" in fin:
            fin = set()
        ful = f.get("fulfillment_status", "any")
        ful_ok = {"shipped": ("fulfilled",), "partial": ("partial",), "unshipped": (None,),
                  "unfulfilled": (None, "partial")}.get(ful)
        ranges = [(self.times[name], f.get(f"{name}_min", -(1 << 62)), f.get(f"{name}_max", 1 << 62))
                  for name in _TIME_COLUMNS if f"{name}_min" in f or f"{name}_max" in f]
        wanted_ids = set(f["ids"]) if f.get("ids") is not None else None
        since = f.get("since_id") or 0
        out = []
        for j, o in enumerate(self.orders):
            oid = self.ids[j]
            if oid <= since or (wanted_ids is not None and oid not in wanted_ids):
                continue
            if status == "open" and (o["closed_at"] or o["cancelled_at"]):
                continue
            if (status == "closed" and not o["closed_at"]) or (status == "cancelled" and not o["cancelled_at"]):
                continue
            if (fin and o["financial_status"] not in fin) or (ful_ok and o["fulfillment_status"] not in ful_ok):
                continue
            if all(lo <= col[j] <= hi for col, lo, hi in ranges):
                out.append(oid)
        if len(self._keys) > 64:
            self._keys.clear()
        self._keys[ck] = out
        return out

    def fulfillment_orders(self, oid: int) -> list[dict[str, Any]]:
        """Return the order's fulfillment orders.

        Raises:
            KeyError: unknown order id.
        """
        self.get(oid)
        return list(self.fos[oid].values())

    def fulfillment_order(self, fo_id: int) -> dict[str, Any]:
        """Return one fulfillment order by id.

        Raises:
            KeyError: unknown fulfillment order id.
        """
        return self.fos[self.fo_owner[fo_id]][fo_id]

    # -- changes ------------------------------------------------------------------------------
    def set(self, oid: int, fields: dict[str, Any], ts: int) -> dict[str, Any]:
        """Set top-level fields of an order and stamp ``updated_at`` (unless given)."""
        order = self.get(oid)
        order.update({k: v for k, v in fields.items() if k != "id"})
        if "updated_at" not in fields:
            order["updated_at"] = iso(ts)
        self._changed(order)
        return order

    def cancel(self, oid: int, reason: str, ts: int) -> dict[str, Any]:
        """Cancel an order; its fulfillment orders close."""
        order = self.get(oid)
        cancel(order, self.fos[oid], reason, ts)
        self._changed(order)
        return order

    def add(self, financial: str, shipping_code: str | None, fields: dict[str, Any], ts: int) -> dict[str, Any]:
        """Create a new order at ``ts`` (id and name follow the last order) and return it."""
        j = len(self.orders)
        order, fo = build_order(self.seed, j, ts, financial, self._pick, self.location, shipping_code)
        order.update({k: v for k, v in fields.items() if k != "id"})
        self._append(order, fo)
        return order

    def create_fulfillment(self, body: Any, ts: int) -> dict[str, Any]:
        """Handle the body of ``POST fulfillments.json`` and return the new fulfillment.

        Raises:
            ApiError: 400 for a malformed body, 404 for an unknown fulfillment order, 422 when
                the fulfillment orders belong to different orders or cannot be fulfilled.
        """
        spec = body.get("fulfillment") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            raise ApiError(400, {"fulfillment": "Required parameter missing or invalid"})
        reqs = spec.get("line_items_by_fulfillment_order")
        if not isinstance(reqs, list) or not reqs or not all(isinstance(r, dict) for r in reqs):
            raise ApiError(422, {"line_items_by_fulfillment_order": ["can't be blank"]})
        owners = set()
        for req in reqs:
            try:
                owners.add(self.fo_owner[int(req.get("fulfillment_order_id"))])
            except (KeyError, TypeError, ValueError):
                raise not_found() from None
        if len(owners) > 1:
            raise ApiError(422, ["All fulfillment orders must belong to the same order."])
        order = self.get(owners.pop())
        fos = self.fos[order["id"]]
        if len({fos[int(req["fulfillment_order_id"])]["assigned_location_id"] for req in reqs}) > 1:
            # Shopify fulfils from one location at a time (the wording of this message is the sandbox's).
            raise ApiError(422, ["All fulfillment orders must be assigned to the same location."])
        tracking = spec.get("tracking_info") or {}
        if not isinstance(tracking, dict):
            raise ApiError(400, {"tracking_info": "Required parameter missing or invalid"})
        fulfillment = fulfil(order, self.fos[order["id"]], reqs, tracking, self.next_fulfillment, ts)
        self._fid()
        self._changed(order)
        return fulfillment

    def move(self, fo_id: int, body: Any, locations: list[dict[str, Any]], ts: int) -> dict[str, Any]:
        """Handle ``POST fulfillment_orders/{id}/move.json``: the answer's three fulfillment orders.

        Raises:
            ApiError: 404 for an unknown fulfillment order, 400 for a malformed body, 422 for an
                unknown or inactive destination or a move Shopify would refuse (``orders.move``).
        """
        try:
            order_id = self.fo_owner[fo_id]
        except KeyError:
            raise not_found() from None
        spec = body.get("fulfillment_order") if isinstance(body, dict) else None
        if not isinstance(spec, dict) or spec.get("new_location_id") is None:
            raise ApiError(400, {"fulfillment_order": "Required parameter missing or invalid"})
        dest = next((loc for loc in locations if str(loc["id"]) == str(spec["new_location_id"])
                     and loc.get("active", True)), None)
        if dest is None:
            raise ApiError(422, ["Cannot change location."])
        order = self.get(order_id)
        fos = self.fos[order_id]
        original, moved, remaining = move(fos, fos[fo_id], dest, spec.get("fulfillment_order_line_items"),
                                          self._new_id, ts)
        self.fo_owner[moved["id"]] = order_id
        order["updated_at"] = iso(ts)
        self._changed(order)
        return {"original_fulfillment_order": original, "moved_fulfillment_order": moved,
                "remaining_fulfillment_order": remaining}

    def _new_id(self) -> int:
        nid, self.next_id = self.next_id, self.next_id + 1
        return nid

    def update_tracking(self, fid: int, body: Any, ts: int) -> dict[str, Any]:
        """Replace a fulfillment's tracking info (``POST fulfillments/{id}/update_tracking.json``)."""
        spec = body.get("fulfillment") if isinstance(body, dict) else None
        if not isinstance(spec, dict) or not isinstance(spec.get("tracking_info"), dict):
            raise ApiError(400, {"fulfillment": "Required parameter missing or invalid"})
        for order in self.orders:
            for f in order["fulfillments"]:
                if f["id"] == fid:
                    info = spec["tracking_info"]
                    numbers = info.get("numbers") or ([info["number"]] if info.get("number") else [])
                    urls = info.get("urls") or ([info["url"]] if info.get("url") else [])
                    f.update(tracking_company=info.get("company", f["tracking_company"]),
                             tracking_number=numbers[0] if numbers else None, tracking_numbers=numbers,
                             tracking_url=urls[0] if urls else None, tracking_urls=urls, updated_at=iso(ts))
                    order["updated_at"] = iso(ts)
                    self._changed(order)
                    return f
        raise not_found()


__all__ = ["FINANCIAL_FILTER", "FULFILLMENT_FILTER", "ORDER_STATUS", "OrderBook", "order_id"]
