"""ORM classes over the hub's tables (:mod:`plugins.connect.tables`), for code that wants objects.

A run's reads and writes use the tables with Core statements and never import this
module; the hub's inspection and operations code and the tests do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped, relationship

from engine.store.models import Base
from plugins.connect import tables
from plugins.connect.tables import NULLABLE_JSON

__all__ = ["NULLABLE_JSON", "Product", "ProductLink", "Order", "OrderLine", "Stock", "Supplier", "ProductSupplier",
           "Shipment", "Image"]


class Product(Base):
    """A hub product: one sellable SKU, whichever store it came from."""

    __table__ = tables.products

    id: Mapped[int]
    sku: Mapped[str]
    name: Mapped[str | None]
    barcode: Mapped[str | None]
    weight_grams: Mapped[float | None]
    price: Mapped[str | None]  # decimal as text: exact on every database
    status: Mapped[str | None]
    attributes: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Product {self.sku!r}>"


class ProductLink(Base):
    """Which record of one integration's store a hub SKU is (product, variant, inventory ids)."""

    __table__ = tables.product_links

    id: Mapped[int]
    integration: Mapped[str]
    sku: Mapped[str]
    external_id: Mapped[str | None]
    data: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ProductLink {self.integration}/{self.sku} -> {self.external_id}>"


class Order(Base):
    """An order taken by one integration's store, in hub terms (hub status, hub carrier)."""

    __table__ = tables.orders

    id: Mapped[int]
    integration: Mapped[str]
    external_id: Mapped[str]
    number: Mapped[str | None]
    status: Mapped[str | None]
    payment_status: Mapped[str | None]
    currency: Mapped[str | None]
    total: Mapped[str | None]
    email: Mapped[str | None]
    customer: Mapped[dict[str, Any] | None]
    shipping_address: Mapped[dict[str, Any] | None]
    billing_address: Mapped[dict[str, Any] | None]
    carrier: Mapped[str | None]
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

    __table__ = tables.order_lines

    id: Mapped[int]
    order_id: Mapped[int]
    line_no: Mapped[int]
    sku: Mapped[str | None]
    name: Mapped[str | None]
    quantity: Mapped[int]
    price: Mapped[str | None]
    external_id: Mapped[str | None]

    order: Mapped[Order] = relationship(back_populates="lines")

    def __repr__(self) -> str:
        return f"<OrderLine {self.order_id}#{self.line_no} {self.sku} x{self.quantity}>"


class Stock(Base):
    """Stock of one SKU in one warehouse; ``available`` is ``quantity - reserved``."""

    __table__ = tables.stock

    id: Mapped[int]
    sku: Mapped[str]
    warehouse: Mapped[str]
    quantity: Mapped[int]
    reserved: Mapped[int]
    updated_at: Mapped[datetime]

    @property
    def available(self) -> int:
        """What can still be sold."""
        return self.quantity - self.reserved

    def __repr__(self) -> str:
        return f"<Stock {self.sku}@{self.warehouse} {self.quantity}-{self.reserved}>"


class Supplier(Base):
    """A supplier, as one integration knows it."""

    __table__ = tables.suppliers

    id: Mapped[int]
    integration: Mapped[str]
    external_id: Mapped[str]
    name: Mapped[str | None]
    active: Mapped[bool]
    data: Mapped[dict[str, Any] | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Supplier {self.integration}/{self.external_id} {self.name!r}>"


class ProductSupplier(Base):
    """Who supplies a SKU, under which reference and at what price."""

    __table__ = tables.product_suppliers

    id: Mapped[int]
    integration: Mapped[str]
    external_id: Mapped[str]
    sku: Mapped[str | None]
    supplier_external_id: Mapped[str | None]
    supplier_reference: Mapped[str | None]
    price: Mapped[str | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<ProductSupplier {self.integration}/{self.external_id} {self.sku}>"


class Shipment(Base):
    """A parcel sent for an order: carrier, tracking and which lines (None: all of them)."""

    __table__ = tables.shipments

    id: Mapped[int]
    order_id: Mapped[int]
    integration: Mapped[str]
    order_external_id: Mapped[str]
    carrier: Mapped[str | None]
    tracking_number: Mapped[str | None]
    tracking_url: Mapped[str | None]
    lines: Mapped[Any | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    order: Mapped[Order] = relationship(back_populates="shipments")

    def __repr__(self) -> str:
        return f"<Shipment {self.id} {self.integration}/{self.order_external_id} {self.carrier} {self.tracking_number}>"


class Image(Base):
    """A product image: where it came from and the downloaded file under the engine's data folder."""

    __table__ = tables.images

    id: Mapped[int]
    sku: Mapped[str]  # a SKU, or the store's product reference
    url: Mapped[str]
    integration: Mapped[str | None]
    position: Mapped[int | None]
    path: Mapped[str | None]  # relative to the engine's data_dir
    sha256: Mapped[str | None]
    content_type: Mapped[str | None]
    bytes: Mapped[int | None]
    downloaded_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Image {self.sku} {self.url}>"
