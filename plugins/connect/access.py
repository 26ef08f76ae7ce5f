"""What the hub connector does with its tables: read, fetch and write each resource.

Loaded with the connector's first read, fetch or write (:mod:`plugins.connect.connector`),
so that loading the connector's class, which the engine's configuration does in every
process that reads a feed, loads neither SQLAlchemy nor the hub's models.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.connector import Page, RunContext, WriteOutcome
from engine.errors import StoreError
from engine.store.db import connection_of
from plugins.connect import catalog, images, orders, reading, shipments, stock, tables, views
from plugins.connect.bulk import key_in

if TYPE_CHECKING:
    from engine.store.db import Tx
    from plugins.connect.connector import HubConnector


def read(hub: HubConnector, resource: str, cursor: Any, ctx: RunContext) -> Iterator[Page]:
    """Pages of ``resource`` changed since ``cursor`` (see :meth:`HubConnector.read`)."""
    size = reading.page_size(ctx.params)
    sessions = _transactions(hub)
    now = hub.services.clock()
    if resource == "products":
        table = tables.products
        return reading.pages_by_id(sessions, views.product_query(ctx.integration),
                                   lambda s, rows: views.product_records(rows), cursor=cursor,
                                   time_col=table.c.updated_at, id_col=table.c.id, size=size, now=now)
    if resource == "orders":
        table = tables.orders
        return reading.pages(sessions, views.order_query().where(table.c.integration == ctx.integration),
                             views.order_records, cursor=cursor, time_col=table.c.updated_at,
                             tie_col=table.c.id, tie_name="id", size=size, now=now)
    if resource == "stock":
        table = tables.stock
        query = views.stock_query(ctx.integration, linked_only=True).where(
            table.c.warehouse == hub.warehouse(ctx))
        return reading.pages(sessions, query, lambda s, rows: views.stock_records(rows), cursor=cursor,
                             time_col=table.c.updated_at, tie_col=table.c.sku, tie_name="sku", size=size, now=now)
    if resource == "shipments":
        table = tables.shipments
        return reading.pages(sessions, views.shipment_query().where(table.c.integration == ctx.integration),
                             views.shipment_records, cursor=cursor, time_col=table.c.updated_at,
                             tie_col=table.c.id, tie_name="id", size=size, now=now)
    table = tables.images
    return reading.pages(sessions, views.image_query(), lambda s, rows: views.image_records(rows),
                         cursor=cursor, time_col=table.c.updated_at, tie_col=table.c.id, tie_name="id",
                         size=size, now=now)


def fetch(hub: HubConnector, resource: str, keys: list[str], ctx: RunContext) -> list[dict[str, Any]]:
    """The records of ``resource`` with these keys, a page of keys per session."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(keys), reading.DEFAULT_PAGE_SIZE):
        chunk = keys[start:start + reading.DEFAULT_PAGE_SIZE]
        with _transactions(hub)() as session:
            out.extend(_fetch(hub, session, resource, chunk, ctx))
    return out


def _transactions(hub: HubConnector) -> Any:
    """Core connections where the engine lends them, else its ORM sessions (the same statements run on both)."""
    return hub.services.transactions or hub.services.sessions


def _fetch(hub: HubConnector, session: Tx, resource: str, keys: list[str],
           ctx: RunContext) -> list[dict[str, Any]]:
    dialect = connection_of(session).dialect.name
    if resource == "products":
        query = views.product_query(ctx.integration).where(key_in(tables.products.c.sku, dialect, keys))
        return views.product_records(session.execute(query.order_by(tables.products.c.sku)).all())
    if resource == "orders":
        query = views.order_query().where(key_in(tables.orders.c.external_id, dialect, keys),
                                          tables.orders.c.integration == ctx.integration)
        return views.order_records(session, session.execute(query.order_by(tables.orders.c.id)).all())
    if resource == "stock":
        query = views.stock_query(ctx.integration, linked_only=False).where(
            key_in(tables.stock.c.sku, dialect, keys), tables.stock.c.warehouse == hub.warehouse(ctx))
        return views.stock_records(session.execute(query.order_by(tables.stock.c.sku)).all())
    if resource == "product_images":
        query = views.image_query().where(key_in(tables.images.c.url, dialect, keys))
        im = tables.images.c
        return views.image_records(session.execute(query.order_by(im.sku, im.position, im.id)).all())
    if resource == "shipments":  # a push the store refused is read again once its cause is fixed
        table = tables.shipments
        ids = [int(k) for k in keys if k.isdigit()]
        query = views.shipment_query().where(table.c.id.in_(ids), table.c.integration == ctx.integration)
        return views.shipment_records(session, session.execute(query.order_by(table.c.id)).all())
    if resource == "suppliers":
        return views.supplier_records(session, ctx.integration, keys)
    return views.product_supplier_records(session, ctx.integration, keys)


def write(hub: HubConnector, resource: str, records: Sequence[dict[str, Any]],
          ctx: RunContext) -> Sequence[WriteOutcome]:
    """Apply ``records`` in the runner's transaction (see :meth:`HubConnector.write`)."""
    session = ctx.session
    if session is None:
        raise StoreError(f"the hub writes {resource} through the runner's transaction, "
                         "but the run context has no session")
    now = hub.services.clock()
    if resource == "products":
        return catalog.write_products(session, records, ctx, now, relinks=_had_links(hub, session, ctx))
    if resource == "orders":
        return orders.write_orders(session, records, ctx, now)
    if resource == "stock":
        return stock.write_stock(session, records, ctx, now, hub.warehouse(ctx))
    if resource == "shipments":
        return shipments.write_shipments(session, records, ctx, now)
    if resource == "suppliers":
        return catalog.write_suppliers(session, records, ctx, now)
    if resource == "product_suppliers":
        return catalog.write_product_suppliers(session, records, ctx, now)
    return images.write_images(session, records, ctx, now, client=hub.http(), data_dir=Path(hub.services.data_dir))


def _had_links(hub: HubConnector, session: Tx, ctx: RunContext) -> bool:
    """Whether the integration had product links when this connector (one run) first wrote products."""
    before = hub.links_before
    if ctx.integration not in before:
        table = tables.product_links
        before[ctx.integration] = session.execute(
            select(table.c.id).where(table.c.integration == ctx.integration).limit(1)).first() is not None
    return before[ctx.integration]
