"""Writing the catalogue: products (with their store links), suppliers and product-suppliers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from engine.connector import WriteOutcome
from engine.errors import RecordError, Severity
from plugins.connect import coerce, tables
from plugins.connect.bulk import Batch, Target, allowed_columns, failed, write_all
from plugins.connect.keyed import select_by_keys, update_by_keys
from plugins.connect.values import product_columns

if TYPE_CHECKING:
    from engine.connector import RunContext
    from engine.store.db import Tx

PRODUCTS = Target(tables.products, "sku", ("name", "barcode", "weight_grams", "price", "status", "attributes"),
                  "product")
LINKS = Target(tables.product_links, "sku", ("external_id", "data"), "product link", scope=("integration",),
               created_at=False)
SUPPLIERS = Target(tables.suppliers, "external_id", ("name", "active", "data"), "supplier",
                   scope=("integration",), created_at=False, defaults={"active": True})
PRODUCT_SUPPLIERS = Target(tables.product_suppliers, "external_id",
                           ("sku", "supplier_external_id", "supplier_reference", "price"), "product supplier",
                           scope=("integration",), created_at=False)
_LINK_FIELDS = ("sku", "external_id", "remote")
_ANY_STOCK = select(tables.stock.c.sku).limit(1)


def write_products(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext,
                   now: datetime, *, relinks: bool = True) -> list[WriteOutcome]:
    """Upsert products by SKU and keep this integration's links to them current.

    A store record is linked to one SKU: a link written to a store id that another
    SKU was linked to removes that SKU's link (a SKU renamed in the store). The
    caller passes ``relinks=False`` when the integration had no links at all when
    its run started (a first import), where no other SKU can hold those store ids.

    Links are written whatever the write mode (a product that already exists
    still gets linked to a new store). A link change alone counts as
    ``updated`` except in ``create`` mode, where existing products are
    ``unchanged`` by definition. A new or changed link also moves the SKU's
    stock ``updated_at`` so stock export feeds pick the SKU up.
    """
    try:
        allowed = allowed_columns(PRODUCTS, ctx.fields, extra=_LINK_FIELDS)
    except RecordError as exc:
        return [failed(str(r.get("sku") or ""), exc) for r in records]
    products = Batch(session, PRODUCTS, ctx, now, scope={}, allowed=allowed)
    links = Batch(session, LINKS, ctx, now, allowed=LINKS.columns, mode="upsert")
    outcomes: list[WriteOutcome | None] = [None] * len(records)
    parsed: list[tuple[int, str, dict[str, Any], dict[str, Any] | None]] = []
    add = parsed.append
    for i, record in enumerate(records):
        try:
            add((i, *product_columns(record)))
        except RecordError as exc:
            outcomes[i] = failed(str(record.get("sku") or ""), exc)
    skus = [p[1] for p in parsed]
    products.load(skus)
    if any(p[3] is not None for p in parsed):
        # A link is only ever written with its product, and products are never deleted: only SKUs
        # already stored can have one (a first import looks up none).
        stored = products.rows
        links.load([sku for sku in skus if sku in stored])
    relinked: list[str] = []
    create_only = ctx.write_mode == "create"
    apply_product, apply_link = products.apply, links.apply
    held = links.rows  # each SKU's store record: as stored, then as this page links it
    for i, sku, values, link in parsed:
        if link is not None and (row := held.get(sku)) is not None:
            owner, claimant = row.get("external_id"), link.get("external_id")
            if owner is not None and claimant is not None and owner != claimant:
                outcomes[i] = failed(sku, _claimed(sku, owner, claimant, ctx.integration))
                continue
        try:
            action = apply_product(sku, values)
        except RecordError as exc:
            outcomes[i] = failed(sku, exc)
            continue
        if link is not None and apply_link(sku, link) != "unchanged":
            relinked.append(sku)
            if action == "unchanged" and not create_only:
                action = "updated"
        outcomes[i] = WriteOutcome(sku, action)
    products.flush()
    written = links.flush()
    if written and relinks:
        _unlink_others(session, ctx, {links.rows[sku]["external_id"]: sku for sku in written
                                      if links.rows[sku].get("external_id") is not None})
    if relinked and session.execute(_ANY_STOCK).first() is not None:  # a hub with no stock yet has none to move
        update_by_keys(session, tables.stock, "sku", relinked, {"updated_at": now})
    return [o for o in outcomes if o is not None]


def _claimed(sku: str, owner: str, claimant: str, integration: str) -> RecordError:
    """A SKU two store records carry: the second one changes nothing (Shopify's "Duplicate product" copies SKUs)."""
    return RecordError(
        f"SKU {sku!r} is the SKU of store record {owner} of {integration}, and store record {claimant} has it too: "
        f"a SKU must be on one store record; nothing of {claimant} was written", record=sku, field="sku",
        severity=Severity.ERROR, owner=owner, claimant=claimant,
        hint=f"Give one of the two another SKU in the store. If store record {owner} no longer exists (deleted "
             f"and created again), unlink it: connect-engine hub unlink {sku} --integration {integration}")


def _unlink_others(session: Tx, ctx: RunContext, linked: dict[str, str]) -> None:
    """A store record is one SKU: links of other SKUs to the same store ids go (a SKU renamed in the store).

    Left in place, the old SKU would still be exported to the store record the new
    one now owns, and the two would overwrite each other's stock on every push.
    The lookup by store id has no index (one would cost every first import more than
    it saves): it runs only for pages whose links changed, after the first import.
    """
    table = LINKS.table
    stale = [(row_id, sku, ext) for row_id, sku, ext in select_by_keys(
        session, table, ("id", "sku", "external_id"), "external_id", list(linked), {"integration": ctx.integration})
        if sku != linked[ext]]
    if not stale:
        return
    session.execute(delete(table).where(table.c.id.in_([row_id for row_id, _, _ in stale])))
    if ctx.log is not None:
        for _, sku, ext in stale:
            ctx.log.info("SKU %s is no longer linked to store record %s of %s: SKU %s is", sku, ext,
                         ctx.integration, linked[ext])


def _supplier(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = coerce.key(record.get("external_id"), "external_id")
    values: dict[str, Any] = {}
    if "name" in record:
        values["name"] = coerce.text(record["name"], "name")
    if "active" in record and record["active"] is not None:
        values["active"] = coerce.flag(record["active"], "active")
    if "data" in record:
        values["data"] = coerce.obj(record["data"], "data")
    return key, values


def _product_supplier(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    key = coerce.key(record.get("external_id"), "external_id")
    values: dict[str, Any] = {}
    for name in ("sku", "supplier_external_id", "supplier_reference"):
        if name in record:
            values[name] = coerce.text(record[name], name, 255)
    if "price" in record:
        values["price"] = coerce.decimal_text(record["price"], "price")
    return key, values


def write_suppliers(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext,
                    now: datetime) -> list[WriteOutcome]:
    """Upsert this integration's suppliers by external id."""
    return write_all(session, SUPPLIERS, records, ctx, now, _supplier)


def write_product_suppliers(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext,
                            now: datetime) -> list[WriteOutcome]:
    """Upsert this integration's product-supplier rows by external id."""
    return write_all(session, PRODUCT_SUPPLIERS, records, ctx, now, _product_supplier)
