"""The Shopify connector: products, images, orders, locations and stock in; stock and fulfillments out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from engine.connector import Check, Connector, Page, Resource, RunContext, Services, WriteOutcome
from engine.errors import ConnectorError, EngineError, FeedDefinitionError
from plugins.shopify.paging import Window
from plugins.shopify.settings import SCHEMA, ShopifySettings
from plugins.shopify.variants import complete as complete_variants

if TYPE_CHECKING:  # the client (and httpx) load when a run opens it: a process that only writes the hub never does
    from plugins.shopify.client import ShopifyClient


class _DistributionVersion:
    """The installed distribution's version, looked up when read (importlib.metadata costs every command
    20 ms or more to import, and only ``plugins`` shows a connector's version)."""

    def __get__(self, instance: object, owner: type | None = None) -> str:
        import importlib.metadata

        try:
            return importlib.metadata.version("connect-engine")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree
            return "0"


#: Ids per request of ``ids=`` filters (Shopify's page size).
IDS_CHUNK = 250
#: Resources read through a time window (``<name>.json``, ``<name>/count.json``) with their fixed filters:
#: products come in every status by default; orders only with ``status=any`` (else closed and cancelled
#: ones are invisible).
WINDOWED: dict[str, dict[str, Any]] = {"products": {}, "orders": {"status": "any"}}
#: Scopes a live integration needs: stock writes, and fulfilling the fulfillment orders of the managed
#: location: a location the merchant manages, or (``legacy: true``) one a fulfillment service owns.
WRITE_STOCK = "write_inventory"
WRITE_FULFIL = {False: "write_merchant_managed_fulfillment_orders", True: "write_third_party_fulfillment_orders"}
#: Without it Shopify shows an app only the last 60 days of orders.
READ_ALL_ORDERS = "read_all_orders"


# Feed params (checked by `connect-engine validate`): what a windowed read takes. Other params pass (rules
# read them as `params.NAME`); one whose name is close to these is reported as a misspelling.
WINDOW_PARAMS = {
    "type": "object",
    "properties": {
        "cursor_field": {"enum": list(Window.FIELDS),
                         "description": "The time the read pages by: updated_at (changes) or created_at (new only)."},
        "filters": {"type": "object", "description": "Query parameters sent to Shopify as they are."},
        "ids": {"type": ["string", "array"], "description": "Only these ids (comma separated, or a list)."},
    },
}
NO_PARAMS = {"type": "object", "properties": {}}


class ShopifyConnector(Connector):
    """Speaks the Shopify Admin REST API (``X-Shopify-Access-Token``, Link paging, leaky bucket).

    Records are Shopify's own JSON objects; the feeds' mappings translate them. Wherever
    variants are read (products, images, stock), a product whose REST answer carries 100
    variants, the most REST shows, gets the rest from the GraphQL API (``plugins.shopify.variants``).
    ``sleep`` and ``monotonic`` may be replaced on an instance before its first request
    (tests record waits instead of sleeping).
    """

    name = "shopify"
    title = "Shopify"
    version = _DistributionVersion()  # type: ignore[assignment]
    feed_set = "shopify"
    settings_schema = SCHEMA
    resources: ClassVar[Mapping[str, Resource]] = {r.name: r for r in (
        Resource("products", fetch=True, description="Products with their variants (all statuses)",
                 params=WINDOW_PARAMS),
        Resource("product_images", fetch=True, description="Product images with the SKUs of their product",
                 params=WINDOW_PARAMS),
        Resource("orders", fetch=True, description="Orders of every status (open, closed, cancelled)",
                 params=WINDOW_PARAMS),
        Resource("locations", description="The shop's locations", params=NO_PARAMS),
        Resource("inventory_levels", key="inventory_item_id", fetch=True, write=True,
                 description="Available stock per inventory item at the managed location", params=NO_PARAMS),
        Resource("fulfillments", key="order_id", read=False, fetch=True, write=True,
                 description="Fulfillments with tracking, created from open fulfillment orders", params=NO_PARAMS),
    )}

    def __init__(self, integration: str, settings: Mapping[str, Any], services: Services) -> None:
        super().__init__(integration, settings, services)
        self.config = ShopifySettings.load(settings, integration=integration)
        self.sleep: Callable[[float], None] = time.sleep
        self.monotonic: Callable[[], float] = time.monotonic
        self._client: ShopifyClient | None = None
        self._location: int | None = self.config.location_id

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Nothing up front: the HTTP client opens on first use (:attr:`client`).

        A run whose pages are read in a read-ahead process never uses this process's
        instance, and so never loads httpx here.
        """

    def _open_client(self) -> None:
        if self._client is None:
            from plugins.shopify.client import ShopifyClient

            cfg = self.config
            self._client = ShopifyClient(
                cfg.shop_url, cfg.access_token, api_version=cfg.api_version, timeout=cfg.timeout_seconds,
                max_retries=cfg.max_retries, rate=cfg.calls_per_second,
                transport=self.services.http_transport, sleep=self.sleep, monotonic=self.monotonic)

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> ShopifyClient:
        """The run's HTTP client, opened on first use."""
        if self._client is None:
            self._open_client()
        assert self._client is not None
        return self._client

    # -- read ---------------------------------------------------------------------------------

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        """Stream pages of ``resource``; see ``docs/plugins.md`` for each resource's cursor."""
        if resource in WINDOWED:
            return self._read_window(resource, cursor, ctx)
        if resource == "product_images":
            return self._read_images(cursor, ctx)
        if resource == "locations":
            return self._read_locations()
        if resource == "inventory_levels":
            from plugins.shopify.stock import read_levels

            return read_levels(self.client, self.location_id(), cursor, self.config.page_size)
        raise ConnectorError(f"shopify cannot read {resource!r}; readable resources: "
                             + ", ".join(sorted(n for n, r in self.resources.items() if r.read)))

    def _window(self, cursor: Any, ctx: RunContext, resource: str) -> Window:
        field = str(ctx.params.get("cursor_field", "updated_at"))
        if field not in Window.FIELDS:
            raise FeedDefinitionError(f"feed {ctx.feed!r}: cursor_field {field!r} is not supported for shopify "
                                      f"{resource}; use one of: {', '.join(Window.FIELDS)}")
        return Window(field, cursor, self.services.clock())

    def _read_window(self, resource: str, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        window = self._window(cursor, ctx, resource)
        filters = {**_passthrough(ctx.params), **WINDOWED[resource], **window.filters()}
        params = {**filters, "since_id": window.last_id}
        total = None
        for records, more in self.client.pages(f"{resource}.json", resource, params, limit=self.config.page_size):
            if total is None:  # the count is for progress: a read of one page needs no request for it
                total = self.client.get(f"{resource}/count.json", filters).get("count") if more else len(records)
            if resource == "products":
                complete_variants(self.client, records)
            window.advance(records)
            yield Page(records, cursor=window.checkpoint() if more else window.final(), total=total)

    def _read_images(self, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        window = self._window(cursor, ctx, "product_images")
        params = {**_passthrough(ctx.params), **window.filters(), "since_id": window.last_id,
                  "fields": f"id,{window.field},images,variants"}
        for products, more in self.client.pages("products.json", "products", params, limit=self.config.page_size):
            complete_variants(self.client, products)
            window.advance(products)
            yield Page(_images(products), cursor=window.checkpoint() if more else window.final())

    def _read_locations(self) -> Iterator[Page]:
        yield Page(list(self.client.each("locations.json", "locations")))

    # -- fetch --------------------------------------------------------------------------------

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        """Re-read records of ``resource`` by key; keys the shop does not know are left out."""
        ids = [int(k) for k in keys if str(k).isdigit()]  # anything else cannot be a Shopify id
        if resource in WINDOWED:
            return self._by_ids(resource, ids)
        if resource == "product_images":
            return self._fetch_images(set(ids))
        if resource == "inventory_levels":
            from plugins.shopify.stock import fetch_levels

            return fetch_levels(self.client, self.location_id(), ids)
        if resource == "fulfillments":
            return self._fetch_fulfillments(ids)
        raise ConnectorError(f"shopify cannot fetch {resource!r}; fetchable resources: "
                             + ", ".join(sorted(n for n, r in self.resources.items() if r.fetch)))

    def _by_ids(self, resource: str, ids: list[int]) -> Iterator[dict[str, Any]]:
        for start in range(0, len(ids), IDS_CHUNK):
            params = {**WINDOWED[resource], "ids": ids[start:start + IDS_CHUNK]}
            for records, _ in self.client.pages(f"{resource}.json", resource, params, limit=IDS_CHUNK):
                if resource == "products":
                    complete_variants(self.client, records)
                yield from records

    def _fetch_images(self, wanted: set[int]) -> Iterator[dict[str, Any]]:
        # Images are only listed under their product: scan until every key was found.
        if not wanted:
            return
        params = {"fields": "id,images,variants"}
        for products, _ in self.client.pages("products.json", "products", params, limit=self.config.page_size):
            hits = [p for p in products if any(im["id"] in wanted for im in p.get("images") or ())]
            complete_variants(self.client, hits)  # only the products whose images are asked for
            for image in _images(hits):
                if image["id"] in wanted:
                    wanted.discard(image["id"])
                    yield image
            if not wanted:
                return

    def _fetch_fulfillments(self, order_ids: list[int]) -> Iterator[dict[str, Any]]:
        from plugins.shopify.writes import order_fulfillments

        for order_id in order_ids:
            try:
                found = order_fulfillments(self.client, order_id)
            except ConnectorError as exc:
                if exc.status == 404 and type(exc) is ConnectorError:  # no such order: left out
                    continue
                raise
            yield from found

    # -- write --------------------------------------------------------------------------------

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        """Apply ``records`` to ``inventory_levels`` or ``fulfillments``; one outcome per record."""
        from plugins.shopify.writes import write_fulfillments, write_inventory

        if resource == "inventory_levels":
            return write_inventory(self.client, records, self.location_id())
        if resource == "fulfillments":
            return write_fulfillments(self.client, records, self.client.retrier, self.location_id())
        raise ConnectorError(f"shopify cannot write {resource!r}; writable resources: "
                             + ", ".join(sorted(n for n, r in self.resources.items() if r.write)))

    # -- locations and go-live ----------------------------------------------------------------

    def location_id(self) -> int:
        """The managed location: the configured one, else the shop's first active location of its own.

        The REST API names no primary location, so the default is the active
        location with the lowest id that is not a fulfillment service's
        (``legacy: false``); a shop with several should set ``location_id``.
        """
        if self._location is None:
            own = _own_locations(list(self.client.each("locations.json", "locations")))
            if not own:
                raise ConnectorError("the shop has no active location of its own to manage stock at; "
                                     "activate one in Shopify or set location_id")
            self._location = int(own[0]["id"])
        return self._location

    def checks(self, ctx: RunContext) -> list[Check]:
        """Go-live checks: the token reads, the managed location exists, the token may write."""
        try:
            locations = list(self.client.each("locations.json", "locations"))
        except EngineError as exc:
            return [Check("credentials", False, f"cannot read the shop's locations: {exc}")]
        out = [Check("credentials", True, f"read {len(locations)} location(s) from {self.config.shop_url}")]
        location, check = _location_check(locations, self.config.location_id)
        out.append(check)
        try:
            body = self.client.get("/admin/oauth/access_scopes.json")
        except EngineError as exc:
            return [*out, Check("write access", False, f"cannot read the token's access scopes: {exc}")]
        granted = {s.get("handle") for s in body.get("access_scopes") or ()}
        out.append(_scope_check(granted, location))
        out.append(_history_check(granted))
        out.append(_version_check(self.client.api_version, self.client.served_version))
        return out


def _own_locations(locations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Active locations the merchant manages (not a fulfillment service's), lowest id first."""
    return sorted((loc for loc in locations if loc.get("active", True) and not loc.get("legacy")),
                  key=lambda loc: int(loc["id"]))


def _scope_check(granted: set[Any], location: dict[str, Any] | None) -> Check:
    fulfil = WRITE_FULFIL[bool(location and location.get("legacy"))]
    missing = [scope for scope in (WRITE_STOCK, fulfil) if scope not in granted]
    if missing:
        return Check("write access", False, "the access token lacks " + ", ".join(missing)
                     + " (needed to set stock and to fulfil the managed location's fulfillment orders); "
                       "add the scopes to the custom app and reinstall it")
    return Check("write access", True, "the token may set stock and fulfil the managed location's orders")


def _version_check(asked: str, served: str | None) -> Check:
    if served is None or served == asked:
        return Check("api version", True, f"Shopify answers API version {asked}")
    return Check("api version", True, f"note: Shopify answers with API version {served}, not {asked}: it no longer "
                                      f"supports {asked} and falls forward; check the changes, then set api_version")


def _history_check(granted: set[Any]) -> Check:
    if READ_ALL_ORDERS in granted:
        return Check("order history", True, "the token reads every order")
    return Check("order history", True, f"note: the token lacks {READ_ALL_ORDERS}, so Shopify shows only the "
                                        "last 60 days of orders; older orders are not imported or updated, and "
                                        "their shipments cannot be confirmed")


def _location_check(locations: list[dict[str, Any]], configured: int | None) -> tuple[dict[str, Any] | None, Check]:
    """The managed location (None if there is none) and the check saying so."""
    active = [loc for loc in locations if loc.get("active", True)]
    if configured is None:
        own = _own_locations(locations)
        if not own:
            return None, Check("location", False, "the shop has no active location of its own; set location_id")
        first = own[0]
        others = (f"; {len(own) - 1} other active location(s): set location_id to choose one"
                  if len(own) > 1 else "")
        return first, Check("location", True, f"stock is managed at {first.get('name')!r} ({first['id']}), "
                                               f"the shop's first active location of its own{others}")
    for loc in active:
        if loc["id"] == configured:
            return loc, Check("location", True, f"stock is managed at {loc.get('name')!r} ({configured})")
    known = ", ".join(f"{loc['id']} ({loc.get('name')})" for loc in active) or "none"
    return None, Check("location", False, f"location_id {configured} is not an active location; active: {known}")


def _passthrough(params: Mapping[str, Any]) -> dict[str, Any]:
    """Feed params sent to Shopify on the first request: ``ids`` and the ``filters`` mapping."""
    out = dict(params.get("filters") or {})
    if params.get("ids"):
        out["ids"] = params["ids"]
    return out


def _images(products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for product in products:
        variants = product.get("variants") or ()
        skus = [v["sku"] for v in variants if v.get("sku")]
        sku_of = {v["id"]: v.get("sku") for v in variants}
        for image in product.get("images") or ():
            out.append({
                "id": image["id"], "product_id": image.get("product_id", product["id"]), "src": image.get("src"),
                "position": image.get("position"), "variant_ids": image.get("variant_ids") or [],
                "alt": image.get("alt"), "width": image.get("width"), "height": image.get("height"),
                "skus": skus,
                "variant_skus": [sku_of[v] for v in image.get("variant_ids") or () if sku_of.get(v)],
            })
    return out
