"""Looking hub data up: the listings behind ``connect-engine hub ...`` and the embedding API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import RecordError
from plugins.connect import views
from plugins.connect.coerce import iso
from plugins.connect.models import Image, Order, Product, Shipment, Stock
from plugins.connect.shipments import find_order, matching_orders

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


def _limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise RecordError(f"limit must be a whole number of 1 or more, got {limit!r}", field="limit")
    return limit


def list_products(session: Session, *, integration: str | None = None, limit: int = 100,
                  sku: str | None = None) -> list[dict[str, Any]]:
    """Products by SKU; with ``integration``, only those linked to it (with their store ids)."""
    query = views.product_query(integration, linked_only=True)
    if sku:
        query = query.where(Product.sku == sku)
    rows = session.execute(query.order_by(Product.sku).limit(_limit(limit))).all()
    return views.product_records(rows)


def list_orders(session: Session, *, integration: str | None = None, limit: int = 100,
                status: str | None = None) -> list[dict[str, Any]]:
    """Orders, newest first, with their lines."""
    query = views.order_query()
    if integration:
        query = query.where(Order.integration == integration)
    if status:
        query = query.where(Order.status == status)
    rows = session.execute(query.order_by(Order.id.desc()).limit(_limit(limit))).all()
    return views.order_records(session, rows)


def list_stock(session: Session, *, integration: str | None = None, limit: int = 100, warehouse: str | None = None,
               sku: str | None = None) -> list[dict[str, Any]]:
    """Stock levels by SKU and warehouse; with ``integration``, only SKUs linked to it."""
    query = views.stock_query(integration, linked_only=True)
    if warehouse:
        query = query.where(Stock.warehouse == warehouse)
    if sku:
        query = query.where(Stock.sku == sku)
    rows = session.execute(query.order_by(Stock.sku, Stock.warehouse).limit(_limit(limit))).all()
    return views.stock_records(rows)


def list_shipments(session: Session, *, integration: str | None = None, limit: int = 100,
                   order: str | None = None) -> list[dict[str, Any]]:
    """Shipments, newest first; ``order`` narrows to one order's external id."""
    query = views.shipment_query()
    if integration:
        query = query.where(Shipment.integration == integration)
    if order:
        query = query.where(Shipment.order_external_id == order)
    rows = session.execute(query.order_by(Shipment.id.desc()).limit(_limit(limit))).all()
    return views.shipment_records(session, rows)


def list_images(session: Session, *, integration: str | None = None, limit: int = 100,
                sku: str | None = None) -> list[dict[str, Any]]:
    """Images by SKU and position; ``integration`` narrows to those that integration brought."""
    query = views.image_query()
    if integration:
        query = query.where(Image.integration == integration)
    if sku:
        query = query.where(Image.sku == sku)
    rows = session.execute(query.order_by(Image.sku, Image.position, Image.id).limit(_limit(limit))).all()
    return views.image_records(rows)


def get_order(session: Session, integration: str | None, key: str) -> dict[str, Any] | None:
    """One order by external id or number, with its lines and ``shipments``; None if there is none.

    Raises:
        RecordError: The number matches orders of several integrations (give one).
    """
    if not matching_orders(session, integration, key):
        return None
    order = find_order(session, integration, key)
    rows = session.execute(views.order_query().where(Order.id == order.id)).all()
    record = views.order_records(session, rows)[0]
    record["shipments"] = [shipment_dict(s, order) for s in order.shipments]
    return record


def stock_dict(row: Stock) -> dict[str, Any]:
    """A stock row as ``{sku, warehouse, quantity, reserved, available, updated_at}``."""
    return {"sku": row.sku, "warehouse": row.warehouse, "quantity": row.quantity, "reserved": row.reserved,
            "available": row.quantity - (row.reserved or 0), "updated_at": iso(row.updated_at)}


def shipment_dict(shipment: Shipment, order: Order) -> dict[str, Any]:
    """A shipment as ``shipments`` records look (``id`` as text)."""
    return {"id": str(shipment.id), "integration": shipment.integration,
            "order_external_id": shipment.order_external_id, "order_number": order.number,
            "carrier": shipment.carrier, "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url, "lines": shipment.lines,
            "created_at": iso(shipment.created_at), "updated_at": iso(shipment.updated_at)}
