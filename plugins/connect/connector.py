"""The hub as a connector: its resources read from and write to the engine's own database."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from engine.connector import Connector, Page, Resource, RunContext, Services, WriteOutcome
from engine.errors import ConnectorError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import httpx
    from sqlalchemy.orm import Session

DEFAULT_WAREHOUSE = "main"  # the hub's warehouse unless the settings or a feed name another


def _operations() -> ModuleType:
    from plugins.connect import operations  # SQLAlchemy and the hub's models load with the first operation

    return operations


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
        self.links_before: dict[str, bool] = {}  # integration -> had product links when this run began writing

    @property
    def default_warehouse(self) -> str:
        """The ``default_warehouse`` setting (``main`` unless configured)."""
        return str(self.settings.get("default_warehouse") or DEFAULT_WAREHOUSE)

    def open(self) -> None:
        """Nothing to acquire up front: the HTTP client of image downloads opens on first use."""

    def http(self) -> httpx.Client:
        """The HTTP client of image downloads (opened at the first)."""
        if self._client is None:
            from plugins.connect import images

            self._client = images.make_client(self.services.http_transport)
        return self._client

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- read, fetch, write (plugins.connect.access: loaded with the first of them) ---------------

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        """Stream pages of ``resource`` changed since ``cursor`` (products: ``{since, after}``, others:
        ``{updated_at, id|sku}``)."""
        self._resource(resource, "read")
        from plugins.connect import access

        return access.read(self, resource, cursor, ctx)

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        """The records of ``resource`` with these keys (missing keys are left out)."""
        self._resource(resource, "fetch")
        from plugins.connect import access

        return iter(access.fetch(self, resource, [str(k) for k in keys], ctx))

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        """Apply ``records`` in the runner's transaction; one outcome per record, in order."""
        self._resource(resource, "write")
        from plugins.connect import access

        return access.write(self, resource, records, ctx)

    def prepare_write(self, resource: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Products: each record's SKU and columns checked and coerced, so the write only compares and writes."""
        if resource != "products":
            return list(records)
        from plugins.connect import values

        return values.prepare(records)

    # -- operations (the embedding API and the CLI) -------------------------------------------------

    def set_stock(self, session: Session, sku: str, quantity: int, warehouse: str | None = None) -> dict[str, Any]:
        """Set a SKU's stock (see :func:`plugins.connect.operations.set_stock`)."""
        return _operations().set_stock(session, sku, quantity, warehouse or self.default_warehouse,
                                    now=self.services.clock())

    def unlink(self, session: Session, sku: str, integration: str) -> dict[str, Any]:
        """Remove a SKU's link to one integration's store (see :func:`plugins.connect.operations.unlink`)."""
        return _operations().unlink(session, sku, integration)

    def adjust_stock(self, session: Session, sku: str, delta: int, warehouse: str | None = None) -> dict[str, Any]:
        """Add to (or take from) a SKU's stock (see :func:`plugins.connect.operations.adjust_stock`)."""
        return _operations().adjust_stock(session, sku, delta, warehouse or self.default_warehouse,
                                       now=self.services.clock())

    def create_shipment(self, session: Session, order: str, *, carrier: str, tracking: str,
                        integration: str | None = None, url: str | None = None,
                        lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Record a shipment (see :func:`plugins.connect.operations.create_shipment`)."""
        return _operations().create_shipment(session, integration=integration, order=order, carrier=carrier,
                                          tracking_number=tracking, tracking_url=url, lines=lines,
                                          now=self.services.clock())

    def hub_list(self, session: Session, what: str, **filters: Any) -> list[dict[str, Any]]:
        """List hub data: ``products``, ``orders``, ``stock``, ``shipments`` or ``images``."""
        listings = {"products": _operations().list_products, "orders": _operations().list_orders,
                    "stock": _operations().list_stock, "shipments": _operations().list_shipments,
                    "images": _operations().list_images}
        if what not in listings:
            raise ConnectorError(f"the hub cannot list {what!r}; it lists {', '.join(listings)}")
        return listings[what](session, **{k: v for k, v in filters.items() if v is not None})

    def get_order(self, session: Session, key: str, integration: str | None = None) -> dict[str, Any] | None:
        """One order with lines and shipments (see :func:`plugins.connect.operations.get_order`)."""
        return _operations().get_order(session, integration, key)

    # -- internals ----------------------------------------------------------------------------------

    def warehouse(self, ctx: RunContext) -> str:
        """The warehouse a run works on: its feed's ``warehouse`` param, else the default."""
        return str((ctx.params or {}).get("warehouse") or self.default_warehouse)

    def _resource(self, name: str, operation: str) -> None:
        declared = self.resources.get(name)
        if declared is None:
            raise ConnectorError(f"the hub has no resource {name!r}; it has {', '.join(self.resources)}")
        if not getattr(declared, operation):
            able = [n for n, r in self.resources.items() if getattr(r, operation)]
            raise ConnectorError(f"the hub cannot {operation} {name!r}; it can {operation} {', '.join(able)}")

