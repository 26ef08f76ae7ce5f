"""The hub's tables: products, store links, orders, stock, suppliers, shipments and images.

They are Core tables on the engine's metadata (:data:`engine.store.tables.metadata`),
so one database and one transaction cover a page's hub data and the engine's
bookkeeping; :mod:`plugins.connect.models` maps ORM classes onto them for code that
wants objects. Free text is ``Text``; identifiers are bounded ``String`` columns
whose limits the writers check per record (an over-long value fails its record,
not the batch). Batches look rows up with ``key = ANY(...) AND integration = ...``,
which must stay an index lookup however stale the planner's statistics are during a
large first import: unique keys put the key column first, and no index starts with
a scope column (``integration``, ``warehouse``) the planner could prefer and then
filter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from engine.store.tables import UTCDateTime, metadata
from plugins.connect.values import KEY  # length of natural keys (sku, external ids; integration names are shorter)

NULLABLE_JSON = JSON(none_as_null=True)  # None is SQL NULL, not the JSON text 'null'


def _str(name: str, length: int | None, *, nullable: bool = True, **kw: Any) -> Column[str]:
    return Column(name, String(length) if length else Text(), nullable=nullable, **kw)


def _when(name: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, UTCDateTime(), nullable=nullable)


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


#: A hub product: one sellable SKU, whichever store it came from.
products = Table(
    "hub_products", metadata,
    _id(),
    _str("sku", KEY, nullable=False, unique=True),
    _str("name", None),
    _str("barcode", 100),
    Column("weight_grams", Float),
    _str("price", 40),  # decimal as text: exact on every database
    _str("status", 40),
    Column("attributes", NULLABLE_JSON),
    _when("created_at"),
    _when("updated_at"),
)

#: Which record of one integration's store a hub SKU is (product, variant, inventory ids).
product_links = Table(
    "hub_product_links", metadata,
    _id(),
    _str("integration", 100, nullable=False),
    _str("sku", KEY, nullable=False),
    _str("external_id", KEY),
    Column("data", NULLABLE_JSON),
    _when("updated_at"),
    UniqueConstraint("sku", "integration", name="uq_hub_product_links_sku_integration"),
)

#: An order taken by one integration's store, in hub terms (hub status, hub carrier).
orders = Table(
    "hub_orders", metadata,
    _id(),
    _str("integration", 100, nullable=False),
    _str("external_id", KEY, nullable=False),
    _str("number", 100),
    _str("status", 40),
    _str("payment_status", 40),
    _str("currency", 10),
    _str("total", 40),
    _str("email", None),
    Column("customer", NULLABLE_JSON),
    Column("shipping_address", NULLABLE_JSON),
    Column("billing_address", NULLABLE_JSON),
    _str("carrier", 100),
    _when("ordered_at", nullable=True),
    _when("created_at"),
    _when("updated_at"),
    UniqueConstraint("external_id", "integration", name="uq_hub_orders_external_id_integration"),
    Index("ix_hub_orders_cursor", "updated_at", "id"),
    Index("ix_hub_orders_number", "number"),
)

#: One line of an order, numbered from 1 in the store's order.
order_lines = Table(
    "hub_order_lines", metadata,
    _id(),
    Column("order_id", ForeignKey("hub_orders.id", ondelete="CASCADE"), nullable=False),
    Column("line_no", Integer, nullable=False),
    _str("sku", KEY),
    _str("name", None),
    Column("quantity", Integer, nullable=False),
    _str("price", 40),
    _str("external_id", KEY),
    UniqueConstraint("order_id", "line_no", name="uq_hub_order_lines_order_id_line_no"),
)

#: Stock of one SKU in one warehouse; available is ``quantity - reserved``.
stock = Table(
    "hub_stock", metadata,
    _id(),
    _str("sku", KEY, nullable=False),
    _str("warehouse", 100, nullable=False),
    Column("quantity", Integer, nullable=False, default=0),
    Column("reserved", Integer, nullable=False, default=0),
    _when("updated_at"),
    UniqueConstraint("sku", "warehouse", name="uq_hub_stock_sku_warehouse"),
    Index("ix_hub_stock_cursor", "updated_at", "sku"),
)

#: A supplier, as one integration knows it.
suppliers = Table(
    "hub_suppliers", metadata,
    _id(),
    _str("integration", 100, nullable=False),
    _str("external_id", KEY, nullable=False),
    _str("name", None),
    Column("active", Boolean, nullable=False, default=True),
    Column("data", NULLABLE_JSON),
    _when("updated_at"),
    UniqueConstraint("external_id", "integration", name="uq_hub_suppliers_external_id_integration"),
)

#: Who supplies a SKU, under which reference and at what price.
product_suppliers = Table(
    "hub_product_suppliers", metadata,
    _id(),
    _str("integration", 100, nullable=False),
    _str("external_id", KEY, nullable=False),
    _str("sku", KEY),
    _str("supplier_external_id", KEY),
    _str("supplier_reference", KEY),
    _str("price", 40),
    _when("updated_at"),
    UniqueConstraint("external_id", "integration", name="uq_hub_product_suppliers_external_id_integration"),
    Index("ix_hub_product_suppliers_sku", "sku"),
)

#: A parcel sent for an order: carrier, tracking and which lines (None: all of them).
shipments = Table(
    "hub_shipments", metadata,
    _id(),
    Column("order_id", ForeignKey("hub_orders.id", ondelete="CASCADE"), nullable=False, index=True),
    _str("integration", 100, nullable=False),
    _str("order_external_id", KEY, nullable=False),
    _str("carrier", 100),
    _str("tracking_number", KEY),
    _str("tracking_url", None),
    Column("lines", NULLABLE_JSON),
    _when("created_at"),
    _when("updated_at"),
    Index("ix_hub_shipments_cursor", "updated_at", "id"),
)

#: A product image: where it came from and the downloaded file under the engine's data folder.
images = Table(
    "hub_images", metadata,
    _id(),
    _str("sku", KEY, nullable=False),  # a SKU, or the store's product reference
    _str("url", 2000, nullable=False),
    _str("integration", 100),
    Column("position", Integer),
    _str("path", None),  # relative to the engine's data_dir
    _str("sha256", 64),
    _str("content_type", 100),
    Column("bytes", Integer),
    _when("downloaded_at", nullable=True),
    _when("updated_at"),
    UniqueConstraint("sku", "url", name="uq_hub_images_sku_url"),
    Index("ix_hub_images_url", "url"),
    Index("ix_hub_images_cursor", "updated_at", "id"),
)
