"""How hub rows look as records: the queries and shapes shared by read, fetch and listings.

Records carry plain JSON values only (times as ISO 8601 text), so mappings,
rules and change detection see the same thing whichever database holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select

from engine.store.db import connection_of
from plugins.connect import tables
from plugins.connect.bulk import key_in
from plugins.connect.coerce import iso

if TYPE_CHECKING:
    from sqlalchemy import Row, Select

    from engine.store.db import Tx

ORDER_FIELDS = ("integration", "external_id", "number", "status", "payment_status", "currency", "total", "email",
                "customer", "shipping_address", "billing_address", "carrier")


# -- products ---------------------------------------------------------------------------------------


def product_query(integration: str | None, *, linked_only: bool = False) -> Select[Any]:
    """Products with this integration's link (external id, remote ids) when there is one."""
    p, link = tables.products, tables.product_links
    cols = (p.c.id, p.c.sku, p.c.name, p.c.barcode, p.c.weight_grams, p.c.price, p.c.status, p.c.attributes,
            p.c.created_at, p.c.updated_at)
    if integration is None:
        return select(*cols)
    on = and_(link.c.sku == p.c.sku, link.c.integration == integration)
    query = select(*cols, link.c.external_id, link.c.data)
    return query.join(link, on) if linked_only else query.outerjoin(link, on)


def product_records(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """``{sku, name, barcode, weight_grams, price, status, attributes, external_id, remote, ...}``."""
    out = []
    for r in rows:
        m = r._mapping
        out.append({"sku": m["sku"], "name": m["name"], "barcode": m["barcode"], "weight_grams": m["weight_grams"],
                    "price": m["price"], "status": m["status"], "attributes": m["attributes"],
                    "external_id": m.get("external_id"), "remote": m.get("data"),
                    "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"])})
    return out


# -- orders -----------------------------------------------------------------------------------------


def order_query() -> Select[Any]:
    """Every column of the orders table."""
    return select(tables.orders)


def order_records(session: Tx, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Orders with their ``lines`` (one more query for the whole page)."""
    lines = lines_by_order(session, [r.id for r in rows])
    out = []
    for r in rows:
        m = r._mapping
        record = {name: m[name] for name in ORDER_FIELDS}
        record["ordered_at"] = iso(m["ordered_at"])
        record["created_at"] = iso(m["created_at"])
        record["updated_at"] = iso(m["updated_at"])
        record["lines"] = lines.get(m["id"], [])
        out.append(record)
    return out


def lines_by_order(session: Tx, order_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The lines of these orders, in line order: ``{line_no, sku, name, quantity, price, external_id}``."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not order_ids:
        return out
    table = tables.order_lines
    query = select(table).where(key_in(table.c.order_id, connection_of(session).dialect.name, order_ids))
    for m in session.execute(query.order_by(table.c.order_id, table.c.line_no)).mappings():
        out.setdefault(m["order_id"], []).append(
            {"line_no": m["line_no"], "sku": m["sku"], "name": m["name"], "quantity": m["quantity"],
             "price": m["price"], "external_id": m["external_id"]})
    return out


# -- stock ------------------------------------------------------------------------------------------


def stock_query(integration: str | None, *, linked_only: bool) -> Select[Any]:
    """Stock rows, with this integration's link to the SKU (inner join when ``linked_only``)."""
    st, link = tables.stock, tables.product_links
    cols = (st.c.id, st.c.sku, st.c.warehouse, st.c.quantity, st.c.reserved, st.c.updated_at)
    if integration is None:
        return select(*cols)
    on = and_(link.c.sku == st.c.sku, link.c.integration == integration)
    query = select(*cols, link.c.external_id, link.c.data)
    return query.join(link, on) if linked_only else query.outerjoin(link, on)


def stock_records(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """``{sku, warehouse, quantity, reserved, available, updated_at, remote, external_id}``."""
    out = []
    for r in rows:
        m = r._mapping
        out.append({"sku": m["sku"], "warehouse": m["warehouse"], "quantity": m["quantity"],
                    "reserved": m["reserved"], "available": m["quantity"] - m["reserved"],
                    "updated_at": iso(m["updated_at"]), "remote": m.get("data"),
                    "external_id": m.get("external_id")})
    return out


# -- shipments --------------------------------------------------------------------------------------


def shipment_query() -> Select[Any]:
    """Shipments with their order's number."""
    orders = tables.orders
    return select(tables.shipments, orders.c.number.label("order_number")).join(
        orders, orders.c.id == tables.shipments.c.order_id)


def shipment_records(session: Tx, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Shipments; each shipped line also names the order line's store id (``external_id``)."""
    lines = lines_by_order(session, list({r.order_id for r in rows}))
    out = []
    for r in rows:
        m = r._mapping
        by_sku = {ln["sku"]: ln for ln in lines.get(m["order_id"], [])}
        shipped = None
        if m["lines"] is not None:
            shipped = [{"sku": ln.get("sku"), "quantity": ln.get("quantity"),
                        "external_id": (by_sku.get(ln.get("sku")) or {}).get("external_id")} for ln in m["lines"]]
        out.append({"id": str(m["id"]), "integration": m["integration"],
                    "order_external_id": m["order_external_id"], "order_number": m["order_number"],
                    "carrier": m["carrier"], "tracking_number": m["tracking_number"],
                    "tracking_url": m["tracking_url"], "lines": shipped,
                    "created_at": iso(m["created_at"]), "updated_at": iso(m["updated_at"])})
    return out


# -- images, suppliers ------------------------------------------------------------------------------


def image_query() -> Select[Any]:
    """Every column of the images table."""
    return select(tables.images)


def image_records(rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """``{url, sku, integration, position, path, sha256, content_type, bytes, downloaded_at, updated_at}``."""
    out = []
    for r in rows:
        m = r._mapping
        out.append({"url": m["url"], "sku": m["sku"], "integration": m["integration"], "position": m["position"],
                    "path": m["path"], "sha256": m["sha256"], "content_type": m["content_type"],
                    "bytes": m["bytes"], "downloaded_at": iso(m["downloaded_at"]),
                    "updated_at": iso(m["updated_at"])})
    return out


def supplier_records(session: Tx, integration: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """This integration's suppliers with these external ids."""
    table = tables.suppliers
    query = select(table).where(key_in(table.c.external_id, connection_of(session).dialect.name, keys),
                                table.c.integration == integration)
    return [{"external_id": m["external_id"], "integration": m["integration"], "name": m["name"],
             "active": m["active"], "data": m["data"], "updated_at": iso(m["updated_at"])}
            for m in session.execute(query.order_by(table.c.id)).mappings()]


def product_supplier_records(session: Tx, integration: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """This integration's product-supplier rows with these external ids."""
    table = tables.product_suppliers
    query = select(table).where(key_in(table.c.external_id, connection_of(session).dialect.name, keys),
                                table.c.integration == integration)
    return [{"external_id": m["external_id"], "integration": m["integration"], "sku": m["sku"],
             "supplier_external_id": m["supplier_external_id"], "supplier_reference": m["supplier_reference"],
             "price": m["price"], "updated_at": iso(m["updated_at"])}
            for m in session.execute(query.order_by(table.c.id)).mappings()]
