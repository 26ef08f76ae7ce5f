"""Deterministic generation of sandbox products, plus the shared clock, id and JSON helpers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

SHOP_TZ = timezone(timedelta(hours=-5))
"""The shop's fixed UTC offset; every timestamp the sandbox serves carries it."""

PLACEHOLDER_URL = "http://sandbox.invalid"
"""Base URL used in generated data until the server is bound to a real port."""

# Generated history lies well in the past; edits made at run time stamp "now".
PRODUCT_T0 = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())
ORDER_T0 = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
DAY = 86_400

SHOP_ID = 61_234_567_890
PRODUCT_BASE = 8_000_000_000_000
VARIANT_BASE = 45_000_000_000_000
ITEM_BASE = 47_000_000_000_000
OPTION_BASE = 10_400_000_000_000
IMAGE_BASE = 33_000_000_000_000
SLOTS = 4  # ids per product reserved for its variants / images
# A product given more variants (``Catalog.resize``) numbers those past its first SLOTS in ranges of their own,
# so the generated catalog keeps its ids. Shopify allows 2,048 variants a product; its REST API shows 100.
WIDE_SLOTS = 4096
WIDE_VARIANT_BASE = 46_000_000_000_000
WIDE_ITEM_BASE = 48_000_000_000_000
MAX_VARIANTS = 2048
REST_VARIANTS = 100
POUND_GRAMS = 453.59237

ADJ = ("Classic", "Modern", "Vintage", "Organic", "Premium", "Eco", "Urban", "Rustic",
       "Sleek", "Cozy", "Bold", "Lite", "Pro", "Ultra", "Mini", "Grand")
NOUN = ("Shirt", "Mug", "Lamp", "Backpack", "Sneaker", "Hoodie", "Bottle", "Cap",
        "Notebook", "Candle", "Scarf", "Watch", "Wallet", "Blanket", "Chair", "Poster")
VENDORS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell")
TYPES = ("Apparel", "Home", "Accessories", "Outdoor", "Stationery", "Kitchen")
TAGS = ("sale", "new", "summer", "winter", "gift", "eco", "bestseller", "limited")
SIZES = {1: ("Default Title",), 2: ("S", "M"), 3: ("S", "M", "L")}
STATUSES = ("active",) * 90 + ("draft",) * 7 + ("archived",) * 3
WEIGHT_UNITS = ("kg", "kg", "g", "lb")

loads = orjson.loads


def dumps(obj: Any) -> bytes:
    """Serialise with orjson into an exactly-sized bytes object.

    orjson returns its growable write buffer; keeping thousands of those alive fragments
    the heap (about 4x the payload in RSS), so cached bytes are copied once.
    """
    return bytes(memoryview(orjson.dumps(obj)))


def now() -> int:
    """Return the current time as whole epoch seconds (Shopify's timestamp resolution)."""
    return int(time.time())


def iso(ts: int) -> str:
    """Format epoch seconds as ISO-8601 in the shop's offset, e.g. ``2024-07-02T08:59:11-05:00``."""
    return datetime.fromtimestamp(ts, SHOP_TZ).isoformat()


def parse_ts(value: str) -> int:
    """Parse an ISO-8601 timestamp (offset, ``Z`` or naive = shop time) to epoch seconds.

    Raises:
        ValueError: if the value is not a timestamp.
    """
    text = value.strip().replace(" ", "+")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHOP_TZ)
    return int(dt.timestamp())


def money(cents: int) -> str:
    """Format integer cents as Shopify's decimal string (``"199.00"``)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def cents(value: Any) -> int:
    """Parse a decimal money string (or number) to integer cents."""
    whole, _, frac = str(value).partition(".")
    neg = whole.startswith("-")
    total = abs(int(whole or "0")) * 100 + int((frac + "00")[:2])
    return -total if neg else total


def gid(kind: str, ident: int) -> str:
    """Return the ``admin_graphql_api_id`` of a resource."""
    return f"gid://shopify/{kind}/{ident}"


def product_id(index: int) -> int:
    """Return the id of the product at ``index`` (strictly increasing with the index)."""
    return PRODUCT_BASE + 1000 * index + (index * 7919) % 997


def variant_id(index: int, k: int) -> int:
    """Return the id of variant ``k`` of the product at ``index``."""
    return VARIANT_BASE + SLOTS * index + k if k < SLOTS else WIDE_VARIANT_BASE + WIDE_SLOTS * index + k


def item_id(index: int, k: int) -> int:
    """Return the inventory item id of variant ``k`` of the product at ``index``."""
    return ITEM_BASE + SLOTS * index + k if k < SLOTS else WIDE_ITEM_BASE + WIDE_SLOTS * index + k


_WIDE = {VARIANT_BASE: WIDE_VARIANT_BASE, ITEM_BASE: WIDE_ITEM_BASE}


def split_slot(ident: int, base: int) -> tuple[int, int]:
    """Invert :func:`variant_id` / :func:`item_id`: return ``(product index, k)`` (index -1: no such id)."""
    wide = _WIDE[base]
    if ident >= wide:
        index, k = divmod(ident - wide, WIDE_SLOTS)
        return (index, k) if k >= SLOTS else (-1, 0)
    off = ident - base
    return off // SLOTS, off % SLOTS


def ean13(rand: Callable[[], float]) -> str:
    """Return a random EAN-13 (valid check digit) drawn from ``rand`` (a ``Random.random``)."""
    body = f"{400_000_000_000 + int(rand() * 599_999_999_999):012d}"
    total = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def image_dims(pid: int, n: int) -> tuple[int, int]:
    """Return ``(width, height)`` of image ``n`` of product ``pid`` (matches the served PNG)."""
    return 24 + (pid + 7 * n) % 41, 24 + (pid // 7 + 3 * n) % 37


def index_columns(seed: int, count: int) -> tuple[list[int], list[int], list[int], list[str]]:
    """Draw the filterable columns of the initial catalog without building product bodies.

    Args:
        seed: data seed.
        count: number of products.

    Returns:
        ``(created, updated, variant_count, status)`` lists, one entry per product.
    """
    rng = random.Random(f"catalog:{seed}")
    rand = rng.random
    created, updated, nvar, status = [], [], [], []
    span, spread = 540 * DAY, 180 * DAY
    for _ in range(count):
        c = PRODUCT_T0 + int(rand() * span)
        created.append(c)
        updated.append(c + int(rand() * rand() * spread))
        r = rand()
        nvar.append(1 if r < 0.34 else 2 if r < 0.67 else 3)
        status.append(STATUSES[int(rand() * 100)])
    return created, updated, nvar, status


def build_product(seed: int, index: int, created: int, updated: int, nvar: int, status: str,
                  base_url: str) -> dict[str, Any]:
    """Build the full Shopify product object at ``index`` deterministically.

    Args:
        seed: data seed.
        index: product position (0-based); fixes its ids and names.
        created: created_at, epoch seconds.
        updated: updated_at, epoch seconds.
        nvar: number of variants (1-3).
        status: ``active``, ``draft`` or ``archived``.
        base_url: the sandbox URL image ``src`` values point at.

    Returns:
        The product as Shopify's REST API returns it.
    """
    rand = random.Random(seed * 1_000_003 + index).random  # random() is 4x cheaper than randrange()
    pid = product_id(index)
    num = index + 1
    title = f"{ADJ[int(rand() * 16)]} {NOUN[int(rand() * 16)]} {num}"
    vendor = VENDORS[int(rand() * 8)]
    c_iso, u_iso = iso(created), iso(updated)
    sizes = SIZES[nvar]
    unit = WEIGHT_UNITS[int(rand() * 4)]
    variants = []
    for k, size in enumerate(sizes):
        vid = variant_id(index, k)
        price = 500 + int(rand() * 19_500)
        grams = 50 + int(rand() * 4_950)
        weight = (grams / 1000.0 if unit == "kg" else float(grams) if unit == "g"
                  else round(grams / 453.592, 2))
        qty = 0 if rand() < 0.08 else 1 + int(rand() * 499)
        variants.append({
            "id": vid, "product_id": pid, "title": size,
            "price": money(price), "sku": f"SKU-{num:06d}" if nvar == 1 else f"SKU-{num:06d}-{size}",
            "position": k + 1, "inventory_policy": "deny",
            "compare_at_price": money(price * 6 // 5) if rand() < 0.2 else None,
            "fulfillment_service": "manual", "inventory_management": "shopify",
            "option1": size, "option2": None, "option3": None,
            "created_at": c_iso, "updated_at": u_iso, "taxable": True,
            "barcode": ean13(rand) if rand() < 0.85 else None,
            "grams": grams, "image_id": None, "weight": weight, "weight_unit": unit,
            "inventory_item_id": item_id(index, k), "inventory_quantity": qty,
            "old_inventory_quantity": qty, "requires_shipping": True,
            "admin_graphql_api_id": gid("ProductVariant", vid),
        })
    images = []
    r = rand()
    for n in range(1, (0 if r < 0.45 else 1 if r < 0.75 else 2 if r < 0.9 else 3) + 1):
        iid = IMAGE_BASE + SLOTS * index + n
        width, height = image_dims(pid, n)
        images.append({
            "id": iid, "alt": None if n > 1 else title, "position": n, "product_id": pid,
            "created_at": c_iso, "updated_at": c_iso, "admin_graphql_api_id": gid("ProductImage", iid),
            "width": width, "height": height,
            "src": f"{base_url}/cdn/shop/products/{pid}-{n}.png?v={created}",
            # beyond the first, an image of a product with sizes shows one of them (no draw: the data stay put)
            "variant_ids": [variant_id(index, (n - 2) % nvar)] if n > 1 and nvar > 1 else [],
        })
        for v in variants:
            if v["id"] in images[-1]["variant_ids"]:
                v["image_id"] = iid
    tags = sorted({TAGS[int(rand() * 8)] for _ in range(int(rand() * 4))})
    return {
        "id": pid, "title": title,
        "body_html": f"<p>{title} by {vendor}.{' Lorem ipsum dolor sit amet.' * int(rand() * 3)}</p>",
        "vendor": vendor, "product_type": TYPES[int(rand() * 6)], "created_at": c_iso,
        "handle": title.lower().replace(" ", "-"), "updated_at": u_iso,
        "published_at": c_iso if status == "active" else None, "template_suffix": None,
        "published_scope": "web", "tags": ", ".join(tags), "status": status,
        "admin_graphql_api_id": gid("Product", pid), "variants": variants,
        "options": [{"id": OPTION_BASE + index, "product_id": pid,
                     "name": "Title" if nvar == 1 else "Size", "position": 1, "values": list(sizes)}],
        "images": images, "image": images[0] if images else None,
    }


def build_variant(seed: int, index: int, k: int, product: dict[str, Any], stamp: str) -> dict[str, Any]:
    """Build variant ``k`` (0-based position) added to the product at ``index`` by ``Catalog.resize``.

    Drawn from ``(seed, index, k)`` alone, so a product resized to the same count always holds the same
    variants. Its weight is in the unit of the product's first variant; ``grams`` is derived from the
    weight as Shopify derives it (the generated catalog's pound weights are rounded from their grams).

    Args:
        seed: data seed.
        index: product position (0-based).
        k: the new variant's position (0-based).
        product: the product it joins (its ``id``, number and weight unit are read).
        stamp: its ``created_at`` / ``updated_at``.
    """
    rand = random.Random(f"variant:{seed}:{index}:{k}").random
    vid, num = variant_id(index, k), index + 1
    unit = product["variants"][0]["weight_unit"] if product["variants"] else "kg"
    price = 500 + int(rand() * 19_500)
    grams = 50 + int(rand() * 4_950)
    weight = grams / 1000.0 if unit == "kg" else float(grams) if unit == "g" else round(grams / 453.592, 2)
    if unit == "lb":
        grams = round(weight * POUND_GRAMS)
    qty = 0 if rand() < 0.08 else 1 + int(rand() * 499)
    title = f"Style {k + 1}"
    return {
        "id": vid, "product_id": product["id"], "title": title, "price": money(price),
        "sku": f"SKU-{num:06d}-V{k + 1:04d}", "position": k + 1, "inventory_policy": "deny",
        "compare_at_price": money(price * 6 // 5) if rand() < 0.2 else None,
        "fulfillment_service": "manual", "inventory_management": "shopify",
        "option1": title, "option2": None, "option3": None, "created_at": stamp, "updated_at": stamp,
        "taxable": True, "barcode": ean13(rand) if rand() < 0.85 else None, "grams": grams, "image_id": None,
        "weight": weight, "weight_unit": unit, "inventory_item_id": item_id(index, k), "inventory_quantity": qty,
        "old_inventory_quantity": qty, "requires_shipping": True, "admin_graphql_api_id": gid("ProductVariant", vid),
    }
