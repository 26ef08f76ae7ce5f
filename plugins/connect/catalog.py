"""Writing the catalogue: products (with their store links), suppliers and product-suppliers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.connector import WriteOutcome
from engine.errors import RecordError
from plugins.connect import coerce
from plugins.connect.bulk import Batch, Target, allowed_columns, failed, write_all
from plugins.connect.keyed import update_by_keys
from plugins.connect.models import KEY, Product, ProductLink, ProductSupplier, Stock, Supplier

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.connector import RunContext

PRODUCTS = Target(Product.__table__, "sku", ("name", "barcode", "weight_grams", "price", "status", "attributes"),
                  "product")
LINKS = Target(ProductLink.__table__, "sku", ("external_id", "data"), "product link", scope=("integration",),
               created_at=False)
SUPPLIERS = Target(Supplier.__table__, "external_id", ("name", "active", "data"), "supplier",
                   scope=("integration",), created_at=False, defaults={"active": True})
PRODUCT_SUPPLIERS = Target(ProductSupplier.__table__, "external_id",
                           ("sku", "supplier_external_id", "supplier_reference", "price"), "product supplier",
                           scope=("integration",), created_at=False)
_LINK_FIELDS = ("sku", "external_id", "remote")
_DECIMAL = coerce.DECIMAL.match  # prices already in canonical form pass as they are


def product_values(record: dict[str, Any]) -> dict[str, Any]:
    """The product columns a record carries, coerced (absent fields are left out: not touched)."""
    # Hot path (every product of every import): plain values skip the coercion calls.
    values: dict[str, Any] = {}
    if "name" in record:
        v = record["name"]
        values["name"] = v if type(v) is str or v is None else coerce.text(v, "name")
    if "barcode" in record:
        v = record["barcode"]
        values["barcode"] = v if v is None or (type(v) is str and len(v) <= 100) else coerce.text(v, "barcode", 100)
    if "weight_grams" in record:
        v = record["weight_grams"]
        values["weight_grams"] = v if type(v) is float or v is None else coerce.number(v, "weight_grams")
    if "price" in record:
        v = record["price"]
        values["price"] = v if type(v) is str and _DECIMAL(v) else coerce.decimal_text(v, "price")
    if "status" in record:
        v = record["status"]
        values["status"] = v if v is None or (type(v) is str and len(v) <= 40) else coerce.text(v, "status", 40)
    if "attributes" in record:
        v = record["attributes"]
        values["attributes"] = v if v is None or type(v) is dict else coerce.obj(v, "attributes")
    return values


def link_values(record: dict[str, Any]) -> dict[str, Any] | None:
    """The store link a record carries (``external_id`` and/or ``remote``), or None."""
    has_id, has_remote = "external_id" in record, "remote" in record
    if not has_id and not has_remote:
        return None
    values: dict[str, Any] = {}
    if has_id:
        v = record["external_id"]
        values["external_id"] = v if type(v) is str and len(v) <= 255 else coerce.text(v, "external_id", 255)
    if has_remote:
        v = record["remote"]
        values["data"] = v if type(v) is dict else coerce.obj(v, "remote")
    if values.get("external_id") is None and values.get("data") is None:
        return None
    return values


def write_products(session: Session, records: Sequence[dict[str, Any]], ctx: RunContext,
                   now: datetime) -> list[WriteOutcome]:
    """Upsert products by SKU and keep this integration's links to them current.

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
            sku = record.get("sku")
            if type(sku) is not str or not sku or len(sku) > KEY:
                sku = coerce.key(sku, "sku")
            add((i, sku, product_values(record), link_values(record)))
        except RecordError as exc:
            outcomes[i] = failed(str(record.get("sku") or ""), exc)
    skus = [p[1] for p in parsed]
    products.load(skus)
    if any(p[3] is not None for p in parsed):
        links.load(skus)
    relinked: list[str] = []
    create_only = ctx.write_mode == "create"
    apply_product, apply_link = products.apply, links.apply
    for i, sku, values, link in parsed:
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
    links.flush()
    if relinked:
        update_by_keys(session, Stock.__table__, "sku", relinked, {"updated_at": now})
    return [o for o in outcomes if o is not None]


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


def write_suppliers(session: Session, records: Sequence[dict[str, Any]], ctx: RunContext,
                    now: datetime) -> list[WriteOutcome]:
    """Upsert this integration's suppliers by external id."""
    return write_all(session, SUPPLIERS, records, ctx, now, _supplier)


def write_product_suppliers(session: Session, records: Sequence[dict[str, Any]], ctx: RunContext,
                            now: datetime) -> list[WriteOutcome]:
    """Upsert this integration's product-supplier rows by external id."""
    return write_all(session, PRODUCT_SUPPLIERS, records, ctx, now, _product_supplier)
