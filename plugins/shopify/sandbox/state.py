"""Everything one sandbox shop knows: data, locations, write log, counters and switches."""

from __future__ import annotations

import copy
import threading
from collections import Counter
from typing import Any

from .catalog import Catalog
from .data import PRODUCT_T0, SHOP_ID, dumps, iso, loads, now, product_id
from .faults import CostBucket, Faults, LeakyBucket
from .orderbook import OrderBook
from .orders import FINANCIAL

SUPPORTED_VERSIONS = ("2024-01", "2024-04", "2024-07", "2024-10", "2025-01", "2025-04", "2025-07")


def served_version(asked: str) -> str:
    """The version Shopify answers a request for ``asked`` with (``X-Shopify-API-Version``).

    A version older than the oldest supported one falls forward to it; Shopify
    does not refuse the request.
    """
    return SUPPORTED_VERSIONS[0] if asked != "unstable" and asked < SUPPORTED_VERSIONS[0] else asked
LOCATION_BASE = 71_234_567_000


def build_locations() -> list[dict[str, Any]]:
    """Return the shop's two active locations; the first is the primary one."""
    rows = (("Main Warehouse", "1 Depot Road", "Louisville", "40202", "Kentucky", "KY"),
            ("Downtown Store", "77 Market Street", "Austin", "78701", "Texas", "TX"))
    stamp = iso(PRODUCT_T0)
    return [{"id": LOCATION_BASE + n + 1, "name": name, "address1": addr, "address2": None,
             "city": city, "zip": zip_code, "province": prov, "country": "US", "phone": None,
             "created_at": stamp, "updated_at": stamp, "country_code": "US",
             "country_name": "United States", "province_code": code, "legacy": False, "active": True,
             "admin_graphql_api_id": f"gid://shopify/Location/{LOCATION_BASE + n + 1}",
             "localized_country_name": "United States", "localized_province_name": prov}
            for n, (name, addr, city, zip_code, prov, code) in enumerate(rows)]


ACCESS_SCOPES = ("read_products", "read_orders", "read_all_orders", "read_inventory", "write_inventory",
                 "read_locations", "read_fulfillments", "write_fulfillments",
                 "read_merchant_managed_fulfillment_orders", "write_merchant_managed_fulfillment_orders")


class ShopState:
    """The shared state behind the HTTP server and the Python control API.

    Every public method takes the state lock; route handlers hold it themselves while they
    read, so a request sees one consistent version of the shop.

    Args:
        products: number of generated products.
        orders: number of generated orders.
        seed: data seed.
        token: the access token API calls must present.
        rate_limit: whether the leaky bucket answers 429 when full (and GraphQL queries are throttled).
        api_version: the version named in ``info`` as the default.
        variant_counts: product number (1-based, as in its title and SKUs) -> variants it has instead of
            its drawn 1-3; applied after the orders are drawn, so those stay as without it.
    """

    def __init__(self, products: int, orders: int, seed: int, token: str, rate_limit: bool,
                 api_version: str, variant_counts: dict[int, int] | None = None) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.token = token
        self.api_version = api_version
        self.locations = build_locations()
        self.primary = self.locations[0]
        self.catalog = Catalog(products, seed, self.primary["id"], [loc["id"] for loc in self.locations])
        self.book = OrderBook(orders, seed, self.catalog, self.primary)
        self.bucket = LeakyBucket(rate_limit)
        self.cost_bucket = CostBucket(rate_limit)
        self.faults = Faults()
        self.scopes = list(ACCESS_SCOPES)
        self.write_log: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self.url = self.catalog.base_url
        for number, count in sorted((variant_counts or {}).items()):
            if not 1 <= number <= products:
                raise ValueError(f"variant_counts: there is no product number {number} (products 1..{products})")
            self.catalog.resize(product_id(number - 1), count, self.catalog.updated[number - 1])

    def rebase(self, url: str) -> None:
        """Adopt the server's URL (image ``src`` values point at it)."""
        with self.lock:
            self.catalog.rebase(url)
            self.url = url

    def shop(self) -> dict[str, Any]:
        """Return the ``GET shop.json`` object."""
        return {"id": SHOP_ID, "name": "Sandbox Shop", "email": "owner@sandbox.example",
                "domain": self.url.split("//", 1)[-1], "myshopify_domain": "sandbox-shop.myshopify.com",
                "currency": "USD", "iana_timezone": "America/New_York", "timezone": "(GMT-05:00) Eastern Time",
                "primary_location_id": self.primary["id"], "plan_name": "basic",
                "created_at": iso(PRODUCT_T0), "updated_at": iso(PRODUCT_T0), "country_code": "US"}

    def info(self) -> dict[str, Any]:
        """Return counts, versions and ids a test or demo needs (never the token itself)."""
        with self.lock:
            cat = self.catalog
            hint = self.token[:5] + "…" + self.token[-2:] if len(self.token) > 8 else "…"
            return {"url": self.url, "seed": self.seed, "products": len(cat.ids),
                    "variants": sum(cat.nvar), "orders": len(self.book.ids),
                    "token_hint": hint, "api_version": self.api_version,
                    "api_versions": list(SUPPORTED_VERSIONS), "any_version_accepted": True,
                    "locations": [loc["id"] for loc in self.locations],
                    "primary_location_id": self.primary["id"], "rate_limit": self.bucket.enabled,
                    "graphql_cost_limit": self.cost_bucket.enabled,
                    "financial_statuses": list(FINANCIAL)}

    # -- control operations -------------------------------------------------------------------
    def set_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Set top-level order fields (``updated_at`` becomes now); KeyError when unknown."""
        with self.lock:
            return copy.deepcopy(self.book.set(int(order_id), fields, now()))

    def cancel_order(self, order_id: int, reason: str = "other") -> dict[str, Any]:
        """Cancel an order now; KeyError when unknown."""
        with self.lock:
            return copy.deepcopy(self.book.cancel(int(order_id), reason, now()))

    def edit_product(self, product_id: int, variants: dict[Any, dict[str, Any]] | None = None,
                     **fields: Any) -> dict[str, Any]:
        """Set product and variant fields (``updated_at`` becomes now); KeyError when unknown."""
        with self.lock:
            vmap = {int(k): v for k, v in (variants or {}).items()}
            return self.catalog.edit(int(product_id), fields, vmap, now())

    def delete_last_variant(self, product_id: int) -> dict[str, Any]:
        """Delete a product's last variant now and return it (see ``Catalog.delete_last_variant``)."""
        with self.lock:
            return self.catalog.delete_last_variant(int(product_id), now())

    def set_variant_count(self, product_id: int, count: int) -> dict[str, Any]:
        """Give a product ``count`` variants now (see ``Catalog.resize``); KeyError / ValueError."""
        with self.lock:
            return self.catalog.resize(int(product_id), count, now())

    def product(self, product_id: int) -> dict[str, Any]:
        """Return a product with every variant (the REST API shows 100 at most); KeyError when unknown."""
        with self.lock:
            return self.catalog.product(self.catalog.find(int(product_id)))

    def add_product(self, **fields: Any) -> dict[str, Any]:
        """Create a product now and return it."""
        with self.lock:
            return self.catalog.add(fields, now())

    def add_order(self, financial_status: str = "paid", shipping_code: str | None = None,
                  **fields: Any) -> dict[str, Any]:
        """Create an order now and return it."""
        if financial_status not in FINANCIAL:
            raise ValueError(f"financial_status {financial_status!r} not in {', '.join(FINANCIAL)}")
        with self.lock:
            return copy.deepcopy(self.book.add(financial_status, shipping_code, fields, now()))

    def touch_products(self, pct: float = 1.0) -> int:
        """Change ``pct`` percent of the products (price +1.00, updated_at now); return how many."""
        with self.lock:
            return self.catalog.touch(float(pct), now())

    def inventory(self, inventory_item_id: int, location_id: int) -> int | None:
        """Return ``available`` of an item at a location, ``None`` when not stocked there."""
        with self.lock:
            if not self.catalog.item_ref(int(inventory_item_id)):
                return None
            got = self.catalog.levels_of(int(inventory_item_id)).get(int(location_id))
            return got[0] if got else None

    def fulfillments(self, order_id: int) -> list[dict[str, Any]]:
        """Return the fulfillments of an order; KeyError when unknown."""
        with self.lock:
            return copy.deepcopy(self.book.get(int(order_id))["fulfillments"])

    # -- observation --------------------------------------------------------------------------
    def record_write(self, method: str, path: str, query: dict[str, str], raw: bytes, status: int) -> None:
        """Append one non-GET API request to the write log."""
        try:
            body: Any = loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.write_log.append({"method": method, "path": path, "query": dict(query), "body": body,
                                   "status": status, "at": iso(now())})

    def writes(self) -> list[dict[str, Any]]:
        """Return a copy of the write log."""
        with self.lock:
            return loads(dumps(self.write_log))

    def reset_writes(self) -> None:
        """Empty the write log."""
        with self.lock:
            self.write_log.clear()

    def count(self, *keys: str, by: int = 1) -> None:
        """Add ``by`` to each named counter."""
        with self.lock:
            for key in keys:
                self.counters[key] += by

    def stats(self) -> dict[str, Any]:
        """Return request counters: totals, per ``METHOD path-template``, per status, faults."""
        with self.lock:
            routes = {k[6:]: v for k, v in self.counters.items() if k.startswith("route ")}
            status = {k[7:]: v for k, v in self.counters.items() if k.startswith("status ")}
            plain = {k: v for k, v in self.counters.items() if " " not in k}
            return {**plain, "by_route": routes, "by_status": status,
                    "throttled_429": self.counters["throttled_429"], "faults": self.faults.snapshot()}

    def reset_stats(self) -> None:
        """Zero every counter."""
        with self.lock:
            self.counters.clear()
