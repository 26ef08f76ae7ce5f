"""What the connector contract suite needs from the Shopify sandbox: a small shop, write samples, its write log."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from plugins.shopify.sandbox import ShopifySandbox

#: A shop small enough for the whole suite to page through in well under a second.
PRODUCTS, ORDERS, SEED = 12, 10, 1
API_VERSION = "2024-07"


@contextmanager
def start() -> Iterator[dict[str, Any]]:
    """Serve a small deterministic sandbox shop (no rate limiting); yield connector settings for it."""
    with ShopifySandbox(products=PRODUCTS, orders=ORDERS, seed=SEED, rate_limit=False,
                        api_version=API_VERSION) as sb:
        yield {"shop_url": sb.url, "access_token": sb.token, "api_version": API_VERSION}


def _get(settings: Mapping[str, Any], path: str, **params: Any) -> Any:
    url = f"{str(settings['shop_url']).rstrip('/')}/admin/api/{settings.get('api_version', API_VERSION)}/{path}"
    with httpx.Client(headers={"X-Shopify-Access-Token": str(settings["access_token"])}, timeout=10) as client:
        response = client.get(url, params=params)
    response.raise_for_status()
    return response.json()


def write_samples(settings: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Valid records for each writable resource, built from what the shop holds now.

    ``inventory_levels``: absolute stock for two existing inventory items;
    ``fulfillments``: a tracked fulfillment of an open, unshipped order.

    Raises:
        LookupError: The shop has no variant or no open unshipped order to build a sample from.
    """
    products = _get(settings, "products.json", limit=2, fields="id,variants")["products"]
    items = [v["inventory_item_id"] for p in products for v in p["variants"]][:2]
    orders = _get(settings, "orders.json", status="open", fulfillment_status="unshipped", limit=1)["orders"]
    if not items or not orders:
        raise LookupError(f"the sandbox at {settings['shop_url']} has no variant or no open unshipped order")
    return {
        "inventory_levels": [{"inventory_item_id": items[0], "available": 17},
                             {"inventory_item_id": items[-1], "available": 0}],
        "fulfillments": [{"order_id": orders[0]["id"], "tracking_number": "CONTRACT-1", "tracking_company": "UPS"}],
    }


def received_writes(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every non-GET Admin API request the sandbox received (its ``/__sandbox/writes`` log)."""
    with httpx.Client(timeout=10) as client:
        response = client.get(f"{str(settings['shop_url']).rstrip('/')}/__sandbox/writes")
    response.raise_for_status()
    return list(response.json()["writes"])


#: The contract hints of the Shopify sandbox (``SandboxSpec.contract``).
CONTRACT: dict[str, Any] = {
    "small_pages": {"page_size": 3},
    "single_page": ("locations",),
    # Locations are listed whole; a location's inventory levels are read whole every run.
    "full_refresh": ("locations", "inventory_levels"),
    "cursor_fields": {"products": "updated_at", "orders": "updated_at"},
    "write_samples": write_samples,
    "received_writes": received_writes,
}
