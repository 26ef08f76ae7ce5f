"""Fixtures of the Shopify end-to-end tests: a sandbox shop per test, engines built from engine.yaml, a clock."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

import plugins.connect
import plugins.shopify
from engine import hubapi
from engine.app import Engine
from engine.store.records import ExecutionInfo
from plugins.shopify.sandbox import ShopifySandbox

ROOT = Path(__file__).resolve().parents[3]
SHOP = "demo-shop"  # the Shopify integration of engine.yaml
PRODUCTS, ORDERS, SEED = 60, 40, 1
PAGE_SIZE = 7
PLUGINS = [plugins.connect, plugins.shopify]
#: engine.yaml's carriers (a copy, so a test may add one to its own engine).
CARRIERS = ("Standard", "Express", "DHL Express", "UPS Ground")
FULFILMENTS_PATH = "/fulfillments.json"
STOCK_SET_PATH = "/inventory_levels/set.json"


class Clock:
    """The engine's clock: real time plus an offset that tests move forward (parked checks, expiry, leases)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by ``timedelta(**delta)`` and return the new now."""
        self.offset += timedelta(**delta)
        return self()


class ShopApi:
    """The sandbox shop seen through its Admin REST API: the independent answer the hub is compared with."""

    def __init__(self, sandbox: ShopifySandbox) -> None:
        self.sb = sandbox

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.sb.api_url, headers={"X-Shopify-Access-Token": self.sb.token}, timeout=10)

    def get(self, path: str, **params: Any) -> Any:
        """GET one API path (the sandbox's data are small enough for one page of 250)."""
        with self._client() as client:
            response = client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST a JSON body with the access token, as any API client would."""
        with self._client() as client:
            return client.post(path, json=body)

    def products(self) -> list[dict[str, Any]]:
        """Every product with its variants and images."""
        return list(self.get("products.json", limit=250)["products"])

    def orders(self) -> list[dict[str, Any]]:
        """Every order, of any status."""
        return list(self.get("orders.json", limit=250, status="any")["orders"])

    def variants(self) -> dict[str, dict[str, Any]]:
        """Every variant by SKU."""
        return {v["sku"]: v for p in self.products() for v in p["variants"]}

    def order(self, name: str) -> dict[str, Any]:
        """The order called ``name`` (``#1001``)."""
        return next(o for o in self.orders() if o["name"] == name)

    @property
    def location(self) -> int:
        """The primary location, whose stock the hub manages."""
        return int(self.sb.info()["primary_location_id"])


def expected_orders(orders: list[dict[str, Any]], carriers: tuple[str, ...] = CARRIERS) -> dict[str, set[str]]:
    """What import_new_orders must do with each order, worked out from the store's data alone.

    Returns:
        ``{"imported": ids, "parked": ids, "bell": ids, "info": ids}`` (order ids as text).
    """
    out: dict[str, set[str]] = {"imported": set(), "parked": set(), "bell": set(), "info": set()}
    for o in orders:
        key = str(o["id"])
        if o["cancelled_at"] or o["financial_status"] in ("refunded", "partially_refunded", "voided", "expired"):
            out["info"].add(key)
        elif o["financial_status"] in ("pending", "authorized", "partially_paid"):
            out["parked"].add(key)
        elif o["financial_status"] != "paid" or (
                o["shipping_lines"] and o["shipping_lines"][0]["code"] not in carriers):
            out["bell"].add(key)  # a payment status no rule knows, or a shipping method with no carrier
        else:
            out["imported"].add(key)
    return out


@pytest.fixture
def sb() -> Iterator[ShopifySandbox]:
    """A fresh sandbox shop (60 products, 40 orders), rate limit off."""
    with ShopifySandbox(products=PRODUCTS, orders=ORDERS, seed=SEED, rate_limit=False) as sandbox:
        yield sandbox


@pytest.fixture
def api(sb: ShopifySandbox) -> Iterator[httpx.Client]:
    """An HTTP client of the sandbox's Admin API (the module's ``sb``), with its token."""
    with httpx.Client(base_url=sb.api_url, headers={"X-Shopify-Access-Token": sb.token}, timeout=10) as client:
        yield client


@pytest.fixture
def shop(sb: ShopifySandbox) -> ShopApi:
    """The sandbox shop's API."""
    return ShopApi(sb)


@pytest.fixture
def clock() -> Clock:
    """The clock every engine of the test shares."""
    return Clock()


EngineFactory = Callable[..., Engine]


@pytest.fixture
def config(db_url: str, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """Builds engine.yaml's content for this test: its database, a data folder in tmp_path, the repo as root."""
    base = yaml.safe_load((ROOT / "engine.yaml").read_text(encoding="utf-8"))

    def build(*, maps: dict[str, Any] | None = None, connector: str | None = None,
              **settings: Any) -> dict[str, Any]:
        raw = copy.deepcopy(base)
        raw.update(database=db_url, data_dir=str(tmp_path / "data"), root=str(ROOT))
        integ = raw["integrations"][SHOP]
        integ["settings"].update({"page_size": PAGE_SIZE, **settings})
        if maps:
            integ["maps"] = {**integ.get("maps", {}), **maps}
        if connector:
            integ["connector"] = connector
        return raw

    return build


@pytest.fixture
def make_engine(config: Callable[..., dict[str, Any]], sb: ShopifySandbox, clock: Clock) -> Iterator[EngineFactory]:
    """Builds engines on the test's database and sandbox; each is closed at teardown."""
    built: list[Engine] = []

    def make(**overrides: Any) -> Engine:
        engine = Engine.from_config(config(**overrides), plugins=PLUGINS, env=sandbox_env(sb), clock=clock)
        built.append(engine)
        return engine

    yield make
    for engine in built:
        engine.close()


@pytest.fixture
def engine(make_engine: EngineFactory) -> Engine:
    """An engine with engine.yaml's settings (page size 7)."""
    return make_engine()


def sandbox_env(sb: ShopifySandbox) -> dict[str, str]:
    """The environment engine.yaml's ``${...}`` values come from."""
    return {"SHOPIFY_SHOP_URL": sb.url, "SHOPIFY_TOKEN": sb.token}


# -- helpers ----------------------------------------------------------------------------------------


def run(engine: Engine, feed: str, *statuses: str, **kwargs: Any) -> ExecutionInfo:
    """Run a feed of the Shopify integration and check it ended in one of ``statuses`` (default: success)."""
    info = engine.run(feed, SHOP, **kwargs)
    assert info.status in (statuses or ("success",)), (feed, info.status, info.message)
    return info


def hub_products(engine: Engine) -> list[dict[str, Any]]:
    """The hub products linked to the Shopify integration."""
    return hubapi.hub_list(engine, "products", integration=SHOP, limit=10_000)


def hub_orders(engine: Engine) -> list[dict[str, Any]]:
    """The hub orders of the Shopify integration."""
    return hubapi.hub_list(engine, "orders", integration=SHOP, limit=10_000)


def hub_stock(engine: Engine) -> dict[str, dict[str, Any]]:
    """The hub stock of the SKUs linked to the Shopify integration, by SKU."""
    return {s["sku"]: s for s in hubapi.hub_list(engine, "stock", integration=SHOP, limit=10_000)}


def store_writes(sb: ShopifySandbox, path_end: str) -> list[dict[str, Any]]:
    """The write requests the store received on paths ending with ``path_end``."""
    return [w for w in sb.writes() if w["path"].endswith(path_end)]


def route_count(sb: ShopifySandbox, route: str) -> int:
    """GET requests the store answered on ``route`` (e.g. ``products.json``) since its stats were reset."""
    return int(sb.stats()["by_route"].get(f"GET /admin/api/{{version}}/{route}", 0))


def sql(engine: Engine, statement: str, **params: Any) -> Any:
    """Run one SQL statement on the engine's database in its own transaction."""
    with engine.db.begin() as conn:
        return conn.execute(text(statement), params)


def go_live(engine: Engine) -> None:
    """What an integrator does before going live: products, stock import, a clean stock check; then go live."""
    run(engine, "import_new_products")
    run(engine, "import_stock_levels")
    run(engine, "stock_check")
    report = engine.go_live(SHOP, reason="end-to-end test")
    assert report.switched and report.mode == "live", [(c.name, c.detail) for c in report.failed]
