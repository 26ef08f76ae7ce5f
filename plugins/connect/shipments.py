"""Shipments: finding the order, checking the shipped lines, recording the parcel once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from engine.connector import WriteOutcome
from engine.errors import RecordError, Severity
from plugins.connect import coerce
from plugins.connect.bulk import failed

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from engine.connector import Action, RunContext
    from plugins.connect.models import Order, Shipment

# The hub's ORM classes (plugins.connect.models) are imported where a shipment is recorded, not when a run
# loads the hub: building them costs every command's start-up (docs/decisions.md §26).


def matching_orders(session: Session, integration: str | None, order: str, *,
                    by_number: bool = True) -> list[Order]:
    """Orders whose external id is ``order`` or, when none is, whose number is (``#`` optional)."""
    from plugins.connect.models import Order

    scope = [Order.integration == integration] if integration else []
    found = list(session.scalars(select(Order).where(Order.external_id == order, *scope).limit(10)))
    if not found and by_number:
        numbers = {order, order.lstrip("#"), "#" + order.lstrip("#")}
        found = list(session.scalars(select(Order).where(Order.number.in_(numbers), *scope).order_by(Order.id)
                                     .limit(10)))
    return found


def find_order(session: Session, integration: str | None, order: str, *, by_number: bool = True) -> Order:
    """The one order whose external id (or, failing that, number) is ``order``.

    Args:
        session: An open session.
        integration: Look only at this integration's orders (None: every integration).
        order: An external id or an order number (a leading ``#`` is optional for numbers).
        by_number: Also match order numbers.

    Raises:
        RecordError: No such order, or the reference matches several orders.
    """
    found = matching_orders(session, integration, order, by_number=by_number)
    where = f" of integration {integration!r}" if integration else ""
    if not found:
        what = "external id or number" if by_number else "external id"
        raise RecordError(f"unknown order {order!r}{where}: no order has that {what}", record=order)
    if len(found) > 1:
        names = ", ".join(sorted(f"{o.integration} ({o.external_id})" for o in found))
        hint = "" if integration else ": give the integration"
        raise RecordError(f"order {order!r}{where} is ambiguous; it matches orders of {names}{hint}", record=order)
    return found[0]


def shipped_lines(order: Order, lines: Any) -> list[dict[str, Any]] | None:
    """Check shipped ``[{sku, quantity}]`` against the order's lines; None means every line.

    Raises:
        RecordError: Not a list, a SKU the order does not contain, or a quantity
            below 1 or above what was ordered.
    """
    if lines is None:
        return None
    if not isinstance(lines, list) or not lines:
        raise RecordError(f"shipment lines must be a non-empty list of {{sku, quantity}}, got {lines!r}",
                          field="lines")
    ordered: dict[str, int] = {}
    for line in order.lines:
        if line.sku:
            ordered[line.sku] = ordered.get(line.sku, 0) + line.quantity
    out: list[dict[str, Any]] = []
    shipped: dict[str, int] = {}
    for n, line in enumerate(lines):
        if not isinstance(line, dict):
            raise RecordError(f"lines[{n}] must be an object {{sku, quantity}}, got {line!r}", field=f"lines[{n}]")
        sku = coerce.key(line.get("sku"), f"lines[{n}].sku")
        quantity = coerce.integer(line.get("quantity"), f"lines[{n}].quantity", required=True, minimum=1) or 0
        if sku not in ordered:
            known = ", ".join(sorted(ordered)) or "none"
            raise RecordError(f"order {order.number or order.external_id} has no line with SKU {sku!r}; "
                              f"its SKUs: {known}", field=f"lines[{n}].sku")
        shipped[sku] = shipped.get(sku, 0) + quantity
        if shipped[sku] > ordered[sku]:
            raise RecordError(f"cannot ship {shipped[sku]} of SKU {sku!r}: order "
                              f"{order.number or order.external_id} has {ordered[sku]}", field=f"lines[{n}].quantity")
        out.append({"sku": sku, "quantity": quantity})
    return out


def record_shipment(session: Session, order: Order, *, carrier: str | None, tracking_number: str | None,
                    tracking_url: str | None, lines: list[dict[str, Any]] | None,
                    now: datetime) -> tuple[Shipment, Action]:
    """Record a parcel for ``order``; the same tracking number on the same order is the same parcel.

    Returns:
        The shipment and whether it was ``created``, ``updated`` or ``unchanged``.
    """
    from plugins.connect.models import Shipment

    same = Shipment.tracking_number == tracking_number if tracking_number else or_(
        Shipment.tracking_number.is_(None), Shipment.tracking_number == "")
    query = select(Shipment).where(Shipment.order_id == order.id, same)
    if not tracking_number:
        query = query.where(Shipment.carrier == carrier if carrier else Shipment.carrier.is_(None))
    existing = session.scalars(query.order_by(Shipment.id).limit(1)).first()
    values = {"carrier": carrier, "tracking_number": tracking_number, "tracking_url": tracking_url, "lines": lines}
    if existing is None:
        shipment = Shipment(order_id=order.id, integration=order.integration, order_external_id=order.external_id,
                            created_at=now, updated_at=now, **values)
        session.add(shipment)
        session.flush()
        return shipment, "created"
    changes = {k: v for k, v in values.items() if v is not None and getattr(existing, k) != v}
    if not changes:
        return existing, "unchanged"
    for name, value in changes.items():
        setattr(existing, name, value)
    existing.updated_at = now
    session.flush()
    return existing, "updated"


def write_shipments(handle: Connection | Session, records: Sequence[dict[str, Any]], ctx: RunContext,
                    now: datetime) -> list[WriteOutcome]:
    """Record shipments of this integration's orders (``{order_external_id, carrier, tracking_number, ...}``).

    An order the hub does not have yet is parked (severity ``retry``): its
    order import may simply not have run yet. ``handle`` is the runner's
    transaction: a Core connection is wrapped in an ORM session that writes into
    it and never commits it.
    """
    from sqlalchemy.orm import Session

    if isinstance(handle, Session):
        return _write_shipments(handle, records, ctx, now)
    with Session(bind=handle) as session:  # joins the transaction: never commits it, closes without ending it
        return _write_shipments(session, records, ctx, now)


def _write_shipments(session: Session, records: Sequence[dict[str, Any]], ctx: RunContext,
                     now: datetime) -> list[WriteOutcome]:
    outcomes = []
    for record in records:
        ref = str(record.get("order_external_id") or "")
        try:
            order_id = coerce.key(record.get("order_external_id"), "order_external_id")
            try:
                order = find_order(session, ctx.integration, order_id, by_number=False)
            except RecordError as exc:
                raise RecordError(exc.message, record=order_id, severity=Severity.RETRY) from None
            shipment, action = record_shipment(
                session, order,
                carrier=coerce.text(record.get("carrier"), "carrier", 100),
                tracking_number=coerce.text(record.get("tracking_number"), "tracking_number", 255),
                tracking_url=coerce.text(record.get("tracking_url"), "tracking_url"),
                lines=shipped_lines(order, record.get("lines")), now=now)
        except RecordError as exc:
            outcomes.append(failed(ref, exc))
            continue
        outcomes.append(WriteOutcome(key=str(shipment.id), action=action))
    return outcomes
