"""A benchmark plugin: an in-memory source of generated product records, paged like a store.

Registered as a third-party plugin would be (``register_connectors``); its
settings say how many records to yield (``count``) and how many per page
(``page_size``). Records are generated page by page, so the source itself holds
one page at a time, like a store connector.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from engine import Connector, Page, Resource, RunContext, hookimpl

FEED = """\
name: load_products
description: Generated products into the hub's products (the pipeline benchmark)
direction: inbound
source: {side: store, resource: products}
target: {side: hub, resource: products}
schedule: "0 3 * * *"
mapping: products.yaml
label: title
write_mode: upsert
batch_size: 1000
"""

MAPPING = """\
key: sku
fields:
  sku: sku
  name: title
  barcode: barcode
  weight_grams: weight
  price: price
  status: status
  external_id: "to_string(id)"
  attributes: {fields: {vendor: vendor, type: product_type}}
"""

_VENDORS = ("Acme", "Globex", "Initech", "Umbrella")
_TYPES = ("Apparel", "Home", "Outdoor")


def record(i: int) -> dict[str, Any]:
    """The ``i``-th generated product record (deterministic)."""
    return {"id": 1_000_000 + i, "sku": f"MEM-{i:07d}", "title": f"Generated product {i}",
            "barcode": f"{400_000_000_000 + i:013d}", "weight": float(100 + i % 900),
            "price": f"{5 + i % 200}.{i % 100:02d}", "status": "active" if i % 10 else "draft",
            "vendor": _VENDORS[i % len(_VENDORS)], "product_type": _TYPES[i % len(_TYPES)],
            "updated_at": "2024-05-01T10:00:00+00:00"}


class MemorySource(Connector):
    """Yields ``count`` generated product records in pages of ``page_size`` (resumes after the last page)."""

    name = "memory"
    title = "In-memory source (benchmark)"
    feed_set = "memory"
    settings_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {"count": {"type": "integer", "minimum": 0},
                       "page_size": {"type": "integer", "minimum": 1}},
    }
    resources: ClassVar[Mapping[str, Resource]] = {
        "products": Resource("products", key="id", read=True, description="Generated products"),
    }

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        """Pages of generated records after ``cursor`` (``{"next": index}``)."""
        count = int(self.settings.get("count", 0))
        size = int(self.settings.get("page_size", 250))
        start = int((cursor or {}).get("next", 0))
        for first in range(start, count, size):
            last = min(count, first + size)
            yield Page([record(i) for i in range(first, last)], cursor={"next": last}, total=count)


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The in-memory source."""
    return [MemorySource]
