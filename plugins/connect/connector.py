"""The hub as a connector: its resources read from and write to the engine's own database."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import select

from engine.connector import Connector, Page, Resource, RunContext, Services, WriteOutcome
from engine.errors import ConnectorError, StoreError
from plugins.connect import catalog, images, operations, orders, reading, shipments, stock, views
from plugins.connect.bulk import key_in
from plugins.connect.models import Image, Order, Product, ProductLink, Shipment, Stock

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx
    from sqlalchemy.orm import Session

SCHEMA = json.loads((Path(__file__).with_name("settings.schema.json")).read_text(encoding="utf-8"))


class HubConnector(Connector):
    """The Connect hub: products, orders, stock, suppliers, shipments and images.

    Reads stream pages in short sessions of their own; writes go through the
    runner's transaction (``ctx.session``) and never commit. ``docs/hub.md``
    describes each resource's records.
    """

    name = "connect"
    title = "Connect hub"
    version = "1"
    feed_set = None
    settings_schema: ClassVar[Mapping[str, Any]] = SCHEMA
    # Fields as docs/hub.md lists them for write, read and fetch.
    _PAGE = {"page_size": {"type": "integer", "minimum": 1, "maximum": 10000}}
    _PARAMS = {"type": "object", "properties": _PAGE}
    _STOCK_PARAMS = {"type": "object", "properties": {**_PAGE, "warehouse": {"type": "string", "minLength": 1}}}
    resources: ClassVar[Mapping[str, Resource]] = {
        "products": Resource(
            "products", key="sku", read=True, fetch=True, write=True,
            description="Hub products by SKU, with this integration's store ids",
            fields=("sku", "name", "barcode", "weight_grams", "price", "status", "attributes", "external_id",
                    "remote", "created_at", "updated_at"), needs=("sku",), params=_PARAMS),
        "product_images": Resource(
            "product_images", key="url", read=True, fetch=True, write=True,
            description="Product images, downloaded into the data folder",
            fields=("sku", "url", "position", "integration", "path", "sha256", "content_type", "bytes",
                    "downloaded_at", "updated_at"), needs=("sku", "url"), params=_PARAMS),
        "orders": Resource(
            "orders", key="external_id", read=True, fetch=True, write=True,
            description="This integration's orders with their lines",
            fields=("external_id", "number", "status", "payment_status", "currency", "total", "email", "customer",
                    "shipping_address", "billing_address", "carrier", "ordered_at", "lines", "integration",
                    "created_at", "updated_at"), needs=("external_id",), params=_PARAMS),
        "stock": Resource(
            "stock", key="sku", read=True, fetch=True, write=True,
            description="Stock per SKU and warehouse; read yields SKUs linked to this integration",
            fields=("sku", "warehouse", "quantity", "reserved", "available", "updated_at", "external_id", "remote"),
            needs=("sku", "quantity"), params=_STOCK_PARAMS),
        "shipments": Resource(
            "shipments", key="id", read=True, fetch=True, write=True,
            description="Shipments of this integration's orders",
            fields=("id", "integration", "order_external_id", "order_number", "carrier", "tracking_number",
                    "tracking_url", "lines", "created_at", "updated_at"), needs=("order_external_id",), params=_PARAMS),
        "suppliers": Resource(
            "suppliers", key="external_id", read=False, fetch=True, write=True,
            description="This integration's suppliers",
            fields=("external_id", "name", "active", "data", "integration", "updated_at"), needs=("external_id",),
            params=_PARAMS),
        "product_suppliers": Resource(
            "product_suppliers", key="external_id", read=False, fetch=True, write=True,
            description="Who supplies which SKU, at what price",
            fields=("external_id", "sku", "supplier_external_id", "supplier_reference", "price", "integration",
                    "updated_at"), needs=("external_id",), params=_PARAMS),
    }

    def __init__(self, integration: str, settings: Mapping[str, Any], services: Services) -> None:
        super().__init__(integration, settings, services)
        self._client: httpx.Client | None = None
        self._links_before: dict[str, bool] = {}  # integration -> had product links when this run began writing

    @property
    def default_warehouse(self) -> str:
        """The ``default_warehouse`` setting (``main`` unless configured)."""
        return str(self.settings.get("default_warehouse") or stock.DEFAULT_WAREHOUSE)

    def open(self) -> None:
        """Nothing to acquire up front: the HTTP client of image downloads opens on first use."""

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = images.make_client(self.services.http_transport)
        return self._client

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- read ---------------------------------------------------------------------------------------

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        """Stream pages of ``resource`` changed since ``cursor`` (products: ``{since, after}``, others:
        ``{updated_at, id|sku}``)."""
        self._resource(resource, "read")
        size = reading.page_size(ctx.params)
        sessions = self.services.sessions
        if resource == "products":
            table = Product.__table__
            return reading.pages_by_id(sessions, views.product_query(ctx.integration),
                                       lambda s, rows: views.product_records(rows), cursor=cursor,
                                       time_col=table.c.updated_at, id_col=table.c.id, size=size,
                                       now=self.services.clock())
        if resource == "orders":
            table = Order.__table__
            return reading.pages(sessions, views.order_query().where(table.c.integration == ctx.integration),
                                 views.order_records, cursor=cursor, time_col=table.c.updated_at,
                                 tie_col=table.c.id, tie_name="id", size=size, now=self.services.clock())
        if resource == "stock":
            table = Stock.__table__
            query = views.stock_query(ctx.integration, linked_only=True).where(
                table.c.warehouse == self._warehouse(ctx))
            return reading.pages(sessions, query, lambda s, rows: views.stock_records(rows), cursor=cursor,
                                 time_col=table.c.updated_at, tie_col=table.c.sku, tie_name="sku", size=size,
                                 now=self.services.clock())
        if resource == "shipments":
            table = Shipment.__table__
            return reading.pages(sessions, views.shipment_query().where(table.c.integration == ctx.integration),
                                 views.shipment_records, cursor=cursor, time_col=table.c.updated_at,
                                 tie_col=table.c.id, tie_name="id", size=size, now=self.services.clock())
        table = Image.__table__
        return reading.pages(sessions, views.image_query(), lambda s, rows: views.image_records(rows),
                             cursor=cursor, time_col=table.c.updated_at, tie_col=table.c.id, tie_name="id",
                             size=size, now=self.services.clock())

    # -- fetch --------------------------------------------------------------------------------------

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        """The records of ``resource`` with these keys (missing keys are left out)."""
        self._resource(resource, "fetch")
        keys = [str(k) for k in keys]
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), reading.DEFAULT_PAGE_SIZE):
            chunk = keys[start:start + reading.DEFAULT_PAGE_SIZE]
            with self.services.sessions() as session:
                out.extend(self._fetch(session, resource, chunk, ctx))
        return iter(out)

    def _fetch(self, session: Session, resource: str, keys: list[str], ctx: RunContext) -> list[dict[str, Any]]:
        dialect = session.get_bind().dialect.name
        if resource == "products":
            query = views.product_query(ctx.integration).where(key_in(Product.__table__.c.sku, dialect, keys))
            return views.product_records(session.execute(query.order_by(Product.sku)).all())
        if resource == "orders":
            query = views.order_query().where(key_in(Order.__table__.c.external_id, dialect, keys),
                                              Order.integration == ctx.integration)
            return views.order_records(session, session.execute(query.order_by(Order.id)).all())
        if resource == "stock":
            query = views.stock_query(ctx.integration, linked_only=False).where(
                key_in(Stock.__table__.c.sku, dialect, keys), Stock.warehouse == self._warehouse(ctx))
            return views.stock_records(session.execute(query.order_by(Stock.sku)).all())
        if resource == "product_images":
            query = views.image_query().where(key_in(Image.__table__.c.url, dialect, keys))
            return views.image_records(session.execute(query.order_by(Image.sku, Image.position, Image.id)).all())
        if resource == "shipments":  # a push the store refused is read again once its cause is fixed
            table = Shipment.__table__
            ids = [int(k) for k in keys if k.isdigit()]
            query = views.shipment_query().where(table.c.id.in_(ids), table.c.integration == ctx.integration)
            return views.shipment_records(session, session.execute(query.order_by(table.c.id)).all())
        if resource == "suppliers":
            return views.supplier_records(session, ctx.integration, keys)
        return views.product_supplier_records(session, ctx.integration, keys)

    # -- write --------------------------------------------------------------------------------------

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        """Apply ``records`` in the runner's transaction; one outcome per record, in order."""
        self._resource(resource, "write")
        session = ctx.session
        if session is None:
            raise StoreError(f"the hub writes {resource} through the runner's transaction, "
                             "but the run context has no session")
        now = self.services.clock()
        if resource == "products":
            return catalog.write_products(session, records, ctx, now, relinks=self._had_links(session, ctx))
        if resource == "orders":
            return orders.write_orders(session, records, ctx, now)
        if resource == "stock":
            return stock.write_stock(session, records, ctx, now, self._warehouse(ctx))
        if resource == "shipments":
            return shipments.write_shipments(session, records, ctx, now)
        if resource == "suppliers":
            return catalog.write_suppliers(session, records, ctx, now)
        if resource == "product_suppliers":
            return catalog.write_product_suppliers(session, records, ctx, now)
        return images.write_images(session, records, ctx, now, client=self._http(),
                                   data_dir=Path(self.services.data_dir))

    def _had_links(self, session: Session, ctx: RunContext) -> bool:
        """Whether the integration had product links when this connector (one run) first wrote products."""
        if ctx.integration not in self._links_before:
            table = ProductLink.__table__
            self._links_before[ctx.integration] = session.execute(
                select(table.c.id).where(table.c.integration == ctx.integration).limit(1)).first() is not None
        return self._links_before[ctx.integration]

    # -- operations (the embedding API and the CLI) -------------------------------------------------

    def set_stock(self, session: Session, sku: str, quantity: int, warehouse: str | None = None) -> dict[str, Any]:
        """Set a SKU's stock (see :func:`plugins.connect.operations.set_stock`)."""
        return operations.set_stock(session, sku, quantity, warehouse or self.default_warehouse,
                                    now=self.services.clock())

    def unlink(self, session: Session, sku: str, integration: str) -> dict[str, Any]:
        """Remove a SKU's link to one integration's store (see :func:`plugins.connect.operations.unlink`)."""
        return operations.unlink(session, sku, integration)

    def adjust_stock(self, session: Session, sku: str, delta: int, warehouse: str | None = None) -> dict[str, Any]:
        """Add to (or take from) a SKU's stock (see :func:`plugins.connect.operations.adjust_stock`)."""
        return operations.adjust_stock(session, sku, delta, warehouse or self.default_warehouse,
                                       now=self.services.clock())

    def create_shipment(self, session: Session, order: str, *, carrier: str, tracking: str,
                        integration: str | None = None, url: str | None = None,
                        lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Record a shipment (see :func:`plugins.connect.operations.create_shipment`)."""
        return operations.create_shipment(session, integration=integration, order=order, carrier=carrier,
                                          tracking_number=tracking, tracking_url=url, lines=lines,
                                          now=self.services.clock())

    def hub_list(self, session: Session, what: str, **filters: Any) -> list[dict[str, Any]]:
        """List hub data: ``products``, ``orders``, ``stock``, ``shipments`` or ``images``."""
        listings = {"products": operations.list_products, "orders": operations.list_orders,
                    "stock": operations.list_stock, "shipments": operations.list_shipments,
                    "images": operations.list_images}
        if what not in listings:
            raise ConnectorError(f"the hub cannot list {what!r}; it lists {', '.join(listings)}")
        return listings[what](session, **{k: v for k, v in filters.items() if v is not None})

    def get_order(self, session: Session, key: str, integration: str | None = None) -> dict[str, Any] | None:
        """One order with lines and shipments (see :func:`plugins.connect.operations.get_order`)."""
        return operations.get_order(session, integration, key)

    # -- internals ----------------------------------------------------------------------------------

    def _warehouse(self, ctx: RunContext) -> str:
        return str((ctx.params or {}).get("warehouse") or self.default_warehouse)

    def _resource(self, name: str, operation: str) -> None:
        declared = self.resources.get(name)
        if declared is None:
            raise ConnectorError(f"the hub has no resource {name!r}; it has {', '.join(self.resources)}")
        if not getattr(declared, operation):
            able = [n for n, r in self.resources.items() if getattr(r, operation)]
            raise ConnectorError(f"the hub cannot {operation} {name!r}; it can {operation} {', '.join(able)}")

