"""Hub operations a person or a host service performs: set stock, record a shipment, look data up.

Plain functions over an open :class:`~sqlalchemy.orm.Session`; the caller frames
the transaction (``with sessions.begin() as s:``) and nothing here commits. Bad
input raises :class:`~engine.errors.RecordError` before anything is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from engine.errors import RecordError
from plugins.connect import coerce
from plugins.connect.connector import DEFAULT_WAREHOUSE
from plugins.connect.listing import (
    get_order,
    list_images,
    list_orders,
    list_products,
    list_shipments,
    list_stock,
    shipment_dict,
    stock_dict,
)
from plugins.connect.models import Order, Product, ProductLink, Stock
from plugins.connect.shipments import find_order, record_shipment, shipped_lines

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "adjust_stock",
    "create_shipment",
    "get_order",
    "list_images",
    "list_orders",
    "list_products",
    "list_shipments",
    "list_stock",
    "set_stock",
]


def _stock_row(session: Session, sku: str, warehouse: str) -> Stock | None:
    if session.scalar(select(Product.id).where(Product.sku == sku)) is None:
        raise RecordError(f"unknown SKU {sku!r}: no hub product has it", record=sku)
    return session.scalars(select(Stock).where(Stock.sku == sku, Stock.warehouse == warehouse)).first()


def set_stock(session: Session, sku: str, quantity: int, warehouse: str | None = None, *,
              now: datetime) -> dict[str, Any]:
    """Set the stock of a SKU in a warehouse.

    Args:
        session: An open transaction.
        sku: A SKU the hub has a product for.
        quantity: The new quantity (0 or more).
        warehouse: The warehouse (default ``main``).
        now: The change time.

    Returns:
        ``{sku, warehouse, quantity, reserved, available, updated_at, previous}``.

    Raises:
        RecordError: Unknown SKU, or a quantity that is not a whole number of 0 or more.
    """
    sku = coerce.key(sku, "sku")
    wanted = coerce.integer(quantity, "quantity", required=True, minimum=0) or 0
    warehouse = coerce.text(warehouse, "warehouse", 100) or DEFAULT_WAREHOUSE
    row = _stock_row(session, sku, warehouse)
    previous = row.quantity if row is not None else None
    if row is None:
        row = Stock(sku=sku, warehouse=warehouse, quantity=wanted, reserved=0, updated_at=now)
        session.add(row)
    elif row.quantity != wanted:
        row.quantity, row.updated_at = wanted, now
    session.flush()
    return {**stock_dict(row), "previous": previous}


def adjust_stock(session: Session, sku: str, delta: int, warehouse: str | None = None, *,
                 now: datetime) -> dict[str, Any]:
    """Add ``delta`` (negative: remove) to the stock of a SKU in a warehouse.

    Returns:
        ``{sku, warehouse, quantity, reserved, available, updated_at, previous}``.

    Raises:
        RecordError: Unknown SKU, a non-integer delta, or a result below 0.
    """
    sku = coerce.key(sku, "sku")
    change = coerce.integer(delta, "delta", required=True) or 0
    warehouse = coerce.text(warehouse, "warehouse", 100) or DEFAULT_WAREHOUSE
    row = _stock_row(session, sku, warehouse)
    previous = row.quantity if row is not None else 0
    if previous + change < 0:
        raise RecordError(f"cannot take {-change} of SKU {sku!r} from warehouse {warehouse!r}: "
                          f"only {previous} in stock", record=sku)
    if row is None:
        row = Stock(sku=sku, warehouse=warehouse, quantity=change, reserved=0, updated_at=now)
        session.add(row)
    elif change:
        row.quantity, row.updated_at = previous + change, now
    session.flush()
    return {**stock_dict(row), "previous": previous}


def create_shipment(session: Session, *, integration: str | None, order: str, carrier: str, tracking_number: str,
                    tracking_url: str | None = None, lines: list[dict[str, Any]] | None = None,
                    now: datetime) -> dict[str, Any]:
    """Record that (part of) an order was shipped; the outbound shipment feed tells the store.

    Recording the same tracking number for the same order again updates that
    shipment instead of adding a second one.

    Args:
        session: An open transaction.
        integration: The order's integration (None: any, if the reference is unambiguous).
        order: The order's external id or number.
        carrier: The hub carrier code.
        tracking_number: The parcel's tracking number.
        tracking_url: Where to follow the parcel.
        lines: ``[{sku, quantity}]`` shipped; None ships every line.
        now: The change time.

    Returns:
        The shipment as ``shipment`` records look, plus ``action`` (created/updated/unchanged).

    Raises:
        RecordError: Unknown or ambiguous order, a SKU the order does not have, a
            bad quantity, or an empty carrier or tracking number.
    """
    ref = coerce.key(order, "order")
    # surrounding blanks are typing, not part of a code: "   " is an empty tracking number
    carrier_code = coerce.key(carrier.strip() if isinstance(carrier, str) else carrier, "carrier", 100)
    tracking = coerce.key(tracking_number.strip() if isinstance(tracking_number, str) else tracking_number,
                          "tracking_number")
    url = coerce.text(tracking_url, "tracking_url")
    found: Order = find_order(session, integration, ref)
    checked = shipped_lines(found, lines)
    shipment, action = record_shipment(session, found, carrier=carrier_code, tracking_number=tracking,
                                       tracking_url=url, lines=checked, now=now)
    return {**shipment_dict(shipment, found), "action": action}


def unlink(session: Session, sku: str, integration: str) -> dict[str, Any]:
    """Remove a SKU's link to its record in one integration's store (the product itself stays).

    For a store record that no longer exists (deleted and created again with
    the same SKU): the next products run links the SKU to the new record.

    Returns:
        ``{sku, integration, external_id}`` of the link removed.

    Raises:
        RecordError: The SKU has no link to that integration; nothing changes.
    """
    table = ProductLink.__table__
    row = session.execute(select(table.c.id, table.c.external_id).where(
        table.c.sku == sku, table.c.integration == integration)).first()
    if row is None:
        raise RecordError(f"SKU {sku!r} is not linked to a record of {integration!r}", record=sku, field="sku")
    session.execute(delete(table).where(table.c.id == row.id))
    return {"sku": sku, "integration": integration, "external_id": row.external_id}
