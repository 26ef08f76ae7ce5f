"""Writing orders: the order row by (integration, external id), its lines replaced when they change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from engine.connector import WriteOutcome
from engine.errors import RecordError
from engine.store.db import connection_of
from plugins.connect import coerce, tables
from plugins.connect.bulk import CHUNK, Batch, Target, allowed_columns, failed, key_in
from plugins.connect.views import lines_by_order

if TYPE_CHECKING:
    from engine.connector import RunContext
    from engine.store.db import Tx

ORDERS = Target(tables.orders, "external_id",
                ("number", "status", "payment_status", "currency", "total", "email", "customer",
                 "shipping_address", "billing_address", "carrier", "ordered_at"),
                "order", scope=("integration",))
_TEXT = {"number": 100, "status": 40, "payment_status": 40, "currency": 10, "email": None, "carrier": 100}


def order_values(record: dict[str, Any]) -> dict[str, Any]:
    """The order columns a record carries, coerced (absent fields are not touched)."""
    values: dict[str, Any] = {}
    for name, limit in _TEXT.items():
        if name in record:
            values[name] = coerce.text(record[name], name, limit)
    if "total" in record:
        values["total"] = coerce.decimal_text(record["total"], "total")
    for name in ("customer", "shipping_address", "billing_address"):
        if name in record:
            values[name] = coerce.obj(record[name], name)
    if "ordered_at" in record:
        values["ordered_at"] = coerce.timestamp(record["ordered_at"], "ordered_at")
    return values


def order_lines(record: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The record's lines numbered from 1, or None when it carries none (lines are then not touched)."""
    raw = record.get("lines")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise RecordError(f"lines must be a list, got {type(raw).__name__}", field="lines")
    lines = []
    for n, line in enumerate(raw, start=1):
        if not isinstance(line, dict):
            raise RecordError(f"lines[{n - 1}] must be an object, got {line!r}", field=f"lines[{n - 1}]")
        where = f"lines[{n - 1}]."
        lines.append({
            "line_no": n,
            "sku": coerce.text(line.get("sku"), where + "sku", 255),
            "name": coerce.text(line.get("name"), where + "name"),
            "quantity": coerce.integer(line.get("quantity"), where + "quantity", required=True, minimum=0),
            "price": coerce.decimal_text(line.get("price"), where + "price"),
            "external_id": coerce.text(line.get("external_id"), where + "external_id", 255),
        })
    return lines


def write_orders(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext,
                 now: datetime) -> list[WriteOutcome]:
    """Upsert this integration's orders; replace an order's lines when they differ.

    With ``ctx.fields`` set, only the named columns change, and lines only if
    ``lines`` is one of them. ``create`` never touches an existing order;
    ``update`` never creates one.
    """
    try:
        allowed = allowed_columns(ORDERS, ctx.fields, extra=("external_id", "lines"))
    except RecordError as exc:
        return [failed(str(r.get("external_id") or ""), exc) for r in records]
    lines_allowed = ctx.fields is None or "lines" in ctx.fields
    batch = Batch(session, ORDERS, ctx, now, allowed=allowed)
    outcomes: list[WriteOutcome | None] = [None] * len(records)
    parsed: list[tuple[int, str, dict[str, Any], list[dict[str, Any]] | None]] = []
    for i, record in enumerate(records):
        try:
            key = coerce.key(record.get("external_id"), "external_id")
            parsed.append((i, key, order_values(record), order_lines(record) if lines_allowed else None))
        except RecordError as exc:
            outcomes[i] = failed(str(record.get("external_id") or ""), exc)
    batch.load(key for _, key, _, _ in parsed)
    current: dict[str, list[dict[str, Any]]] = {}
    if lines_allowed:
        by_id = lines_by_order(session, list(batch.ids.values()))
        current = {key: by_id.get(row_id, []) for key, row_id in batch.ids.items()}
    replace: dict[str, list[dict[str, Any]]] = {}
    for i, key, values, lines in parsed:
        try:
            action = batch.apply(key, values)
        except RecordError as exc:
            outcomes[i] = failed(key, exc)
            continue
        changed_lines = action == "created" or (batch.mode != "create" and current.get(key, []) != lines)
        if lines is not None and changed_lines:
            current[key] = replace[key] = lines
            if action == "unchanged":
                batch.touch(key)
                action = "updated"
        outcomes[i] = WriteOutcome(key=key, action=action)
    batch.flush()
    if replace:
        _replace_lines(session, ctx.integration, replace)
    return [o for o in outcomes if o is not None]


def _replace_lines(session: Tx, integration: str, lines: dict[str, list[dict[str, Any]]]) -> None:
    dialect = connection_of(session).dialect.name
    keys = list(lines)
    ids: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        c = tables.orders.c
        query = select(c.external_id, c.id).where(
            key_in(c.external_id, dialect, keys[start:start + CHUNK]), c.integration == integration)
        ids.update({k: i for k, i in session.execute(query)})
    order_ids = list(ids.values())
    lines_table = tables.order_lines
    for start in range(0, len(order_ids), CHUNK):
        session.execute(delete(lines_table).where(key_in(lines_table.c.order_id, dialect,
                                                         order_ids[start:start + CHUNK])))
    rows = [{"order_id": ids[key], **line} for key, order_lines_ in lines.items() for line in order_lines_]
    if rows:
        session.execute(insert(lines_table), rows)
