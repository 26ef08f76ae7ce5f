"""The hub's tables: products, store links, orders, stock, suppliers, shipments and images.

They live on the engine's :class:`~engine.store.models.Base`, so one metadata, one
database and one transaction cover a page's hub data and the engine's bookkeeping.
Free text is ``Text``; identifiers are bounded ``String`` columns whose limits the
writers check per record (an over-long value fails its record, not the batch).
Batches look rows up with ``key = ANY(...) AND integration = ...``, which must stay
an index lookup however stale the planner's statistics are during a large first
import: unique keys put the key column first, and no index starts with a scope
column (``integration``, ``warehouse``) the planner could prefer and then filter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.store.models import Base
from plugins.connect.values import KEY  # length of natural keys (sku, external ids; integration names are shorter)

NULLABLE_JSON = JSON(none_as_null=True)  # None is SQL NULL, not the JSON text 'null'


class Product(Base):
    """A hub product: one sellable SKU, whichever store it came from."""

    __tablename__ = "hub_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(KEY), unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    barcode: Mapped[str | None] = mapped_column(String(100))
    weight_grams: Mapped[float | None] = mapped_column(Float)
    price: Mapped[str | None] = mapped_column(String(40))  # decimal as text: exact on every database
    status: Mapped[str | None] = mapped_column(String(40))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Product {self.sku!r}>"


class ProductLink(Base):
    """Which record of one integration's store a hub SKU is (product, variant, inventory ids)."""

    __tablename__ = "hub_product_links"
    __table_args__ = (UniqueConstraint("sku", "integration", name="uq_hub_product_links_sku_integration"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    sku: Mapped[str] = mapped_column(String(KEY))
    external_id: Mapped[str | None] = mapped_column(String(KEY))
    data: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ProductLink {self.integration}/{self.sku} -> {self.external_id}>"


class Order(Base):
    """An order taken by one integration's store, in hub terms (hub status, hub carrier)."""

    __tablename__ = "hub_orders"
    __table_args__ = (
        UniqueConstraint("external_id", "integration", name="uq_hub_orders_external_id_integration"),
        Index("ix_hub_orders_cursor", "updated_at", "id"),
        Index("ix_hub_orders_number", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(KEY))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str | None] = mapped_column(String(40))
    payment_status: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str | None] = mapped_column(String(10))
    total: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(Text)
    customer: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    carrier: Mapped[str | None] = mapped_column(String(100))
    ordered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.line_no", cascade="all, delete-orphan", passive_deletes=True)
    shipments: Mapped[list[Shipment]] = relationship(back_populates="order", order_by="Shipment.id")

    def __repr__(self) -> str:
        return f"<Order {self.integration}/{self.external_id} #{self.number} {self.status}>"


class OrderLine(Base):
    """One line of an order, numbered from 1 in the store's order."""

    __tablename__ = "hub_order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no", name="uq_hub_order_lines_order_id_line_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("hub_orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str | None] = mapped_column(String(KEY))
    name: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(KEY))

    order: Mapped[Order] = relationship(back_populates="lines")

    def __repr__(self) -> str:
        return f"<OrderLine {self.order_id}#{self.line_no} {self.sku} x{self.quantity}>"


class Stock(Base):
    """Stock of one SKU in one warehouse; ``available`` is ``quantity - reserved``."""

    __tablename__ = "hub_stock"
    __table_args__ = (
        UniqueConstraint("sku", "warehouse", name="uq_hub_stock_sku_warehouse"),
        Index("ix_hub_stock_cursor", "updated_at", "sku"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(KEY))
    warehouse: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]

    @property
    def available(self) -> int:
        """What can still be sold."""
        return self.quantity - self.reserved

    def __repr__(self) -> str:
        return f"<Stock {self.sku}@{self.warehouse} {self.quantity}-{self.reserved}>"


class Supplier(Base):
    """A supplier, as one integration knows it."""

    __tablename__ = "hub_suppliers"
    __table_args__ = (UniqueConstraint("external_id", "integration", name="uq_hub_suppliers_external_id_integration"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(KEY))
    name: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(NULLABLE_JSON)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Supplier {self.integration}/{self.external_id} {self.name!r}>"


class ProductSupplier(Base):
    """Who supplies a SKU, under which reference and at what price."""

    __tablename__ = "hub_product_suppliers"
    __table_args__ = (
        UniqueConstraint("external_id", "integration",
                         name="uq_hub_product_suppliers_external_id_integration"),
        Index("ix_hub_product_suppliers_sku", "sku"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(KEY))
    sku: Mapped[str | None] = mapped_column(String(KEY))
    supplier_external_id: Mapped[str | None] = mapped_column(String(KEY))
    supplier_reference: Mapped[str | None] = mapped_column(String(KEY))
    price: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ProductSupplier {self.integration}/{self.external_id} {self.sku}>"


class Shipment(Base):
    """A parcel sent for an order: carrier, tracking and which lines (None: all of them)."""

    __tablename__ = "hub_shipments"
    __table_args__ = (Index("ix_hub_shipments_cursor", "updated_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("hub_orders.id", ondelete="CASCADE"), index=True)
    integration: Mapped[str] = mapped_column(String(100))
    order_external_id: Mapped[str] = mapped_column(String(KEY))
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(KEY))
    tracking_url: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[Any | None] = mapped_column(NULLABLE_JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    order: Mapped[Order] = relationship(back_populates="shipments")

    def __repr__(self) -> str:
        return f"<Shipment {self.id} {self.integration}/{self.order_external_id} {self.carrier} {self.tracking_number}>"


class Image(Base):
    """A product image: where it came from and the downloaded file under the engine's data folder."""

    __tablename__ = "hub_images"
    __table_args__ = (
        UniqueConstraint("sku", "url", name="uq_hub_images_sku_url"),
        Index("ix_hub_images_url", "url"),
        Index("ix_hub_images_cursor", "updated_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(KEY))  # a SKU, or the store's product reference
    url: Mapped[str] = mapped_column(String(2000))
    integration: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(Text)  # relative to the engine's data_dir
    sha256: Mapped[str | None] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(100))
    bytes: Mapped[int | None] = mapped_column(Integer)
    downloaded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Image {self.sku} {self.url}>"
