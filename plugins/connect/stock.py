"""Writing stock levels: ``{sku, warehouse?, quantity, reserved?}`` sets the level of a SKU in a warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.connector import WriteOutcome
from engine.errors import RecordError
from plugins.connect import coerce, tables
from plugins.connect.bulk import Batch, Target, allowed_columns, apply_all, failed

if TYPE_CHECKING:
    from engine.connector import RunContext
    from engine.store.db import Tx

STOCK = Target(tables.stock, "sku", ("quantity", "reserved"), "stock level", scope=("warehouse",),
               created_at=False, defaults={"quantity": 0, "reserved": 0})


def stock_values(record: dict[str, Any]) -> dict[str, Any]:
    """The stock columns a record carries; a negative quantity or reservation is refused."""
    values: dict[str, Any] = {"quantity": coerce.integer(record.get("quantity"), "quantity", required=True,
                                                         minimum=0)}
    if record.get("reserved") is not None:
        values["reserved"] = coerce.integer(record["reserved"], "reserved", minimum=0)
    return values


def write_stock(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext, now: datetime,
                default_warehouse: str) -> list[WriteOutcome]:
    """Set stock levels (an import of the store's levels), one batch per warehouse.

    Args:
        session: The runner's transaction.
        records: ``{sku, warehouse?, quantity, reserved?}``.
        ctx: Integration, write mode and fields.
        now: The write time.
        default_warehouse: For records without a warehouse (the feed's ``warehouse``
            param, else the hub's ``default_warehouse`` setting).
    """
    try:
        allowed = allowed_columns(STOCK, ctx.fields, extra=("sku", "warehouse"))
    except RecordError as exc:
        return [failed(str(r.get("sku") or ""), exc) for r in records]
    outcomes: list[WriteOutcome | None] = [None] * len(records)
    by_warehouse: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for i, record in enumerate(records):
        try:
            sku = coerce.key(record.get("sku"), "sku")
            warehouse = coerce.text(record.get("warehouse"), "warehouse", 100) or default_warehouse
            by_warehouse.setdefault(warehouse, []).append((i, sku, stock_values(record)))
        except RecordError as exc:
            outcomes[i] = failed(str(record.get("sku") or ""), exc)
    for warehouse, items in by_warehouse.items():
        apply_all(Batch(session, STOCK, ctx, now, scope={"warehouse": warehouse}, allowed=allowed), items,
                  outcomes)
    return [o for o in outcomes if o is not None]
