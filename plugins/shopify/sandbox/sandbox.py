"""``ShopifySandbox``: start, stop and steer a fake Shopify Admin API (REST, and GraphQL for variants) from Python."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from .server import SandboxServer
from .state import ShopState

_WILDCARD_HOSTS = ("", "0.0.0.0", "::")


class ShopifySandbox:
    """A faithful fake of the Shopify Admin REST API served over real HTTP.

    Data is generated deterministically from ``seed`` (two sandboxes with the same seed
    serve the same bytes, apart from their own base URL in image ``src`` and ``Link``
    values); products render lazily on first request, or all at once with :meth:`warm`.

    A product may hold up to 2,048 variants (``variant_counts``, :meth:`set_variant_count`);
    like Shopify, every REST endpoint shows its first 100, and ``POST graphql.json`` serves
    the rest through the GraphQL query of a product's ``variants`` connection, with
    Shopify's cost limit (on with ``rate_limit``; see :meth:`set_graphql_limit`).

    Example:
        >>> with ShopifySandbox(products=5, orders=3) as sb:  # doctest: +SKIP
        ...     httpx.get(f"{sb.url}/admin/api/2024-07/products.json",
        ...               headers={"X-Shopify-Access-Token": "shpat_sandbox"})

    Args:
        products: number of generated products (1-3 variants each).
        orders: number of generated orders.
        seed: data seed.
        token: the ``X-Shopify-Access-Token`` value API calls must send.
        rate_limit: answer 429 when the 40-request leaky bucket is full, and THROTTLED when a GraphQL
            query asks more points than its cost bucket holds.
        host: interface to bind.
        port: port to bind; 0 picks a free one.
        api_version: the version :attr:`api_url` uses (any ``YYYY-MM`` is accepted).
        variant_counts: product number (1-based, as in its title and SKUs) -> its number of variants
            (1..2048) instead of the drawn 1-3. Without it the data are exactly the seed's.
    """

    def __init__(self, products: int = 50, orders: int = 30, seed: int = 1, token: str = "shpat_sandbox",
                 rate_limit: bool = True, host: str = "127.0.0.1", port: int = 0,
                 api_version: str = "2024-07", variant_counts: dict[int, int] | None = None) -> None:
        self.state = ShopState(products, orders, seed, token, rate_limit, api_version, variant_counts)
        self.host = host
        self.port = port
        self.api_version = api_version
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> ShopifySandbox:
        """Bind and serve in a daemon thread; return ``self``.

        Raises:
            RuntimeError: when already started.
        """
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = SandboxServer((self.host, self.port), self.state)
        self.port = server.server_address[1]
        shown = "127.0.0.1" if self.host in _WILDCARD_HOSTS else self.host
        self.state.rebase(f"http://{shown}:{self.port}")
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"shopify-sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections and release the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ShopifySandbox:
        """Start (unless already started) and return ``self``."""
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop serving."""
        self.stop()

    def wait(self) -> None:
        """Block until the serving thread ends (after :meth:`stop`)."""
        if self._thread is not None:
            self._thread.join()

    def warm(self) -> ShopifySandbox:
        """Render every product now (benchmarks call this so no run pays generation); return ``self``."""
        with self.state.lock:
            self.state.catalog.warm()
        return self

    @property
    def url(self) -> str:
        """The shop URL, ``http://127.0.0.1:PORT``; the API lives under ``{url}/admin/api/{version}/``.

        Raises:
            RuntimeError: before :meth:`start`.
        """
        if self._server is None and self.state.url.endswith(".invalid"):
            raise RuntimeError("sandbox not started: call start() first")
        return self.state.url

    @property
    def api_url(self) -> str:
        """``{url}/admin/api/{api_version}``."""
        return f"{self.url}/admin/api/{self.api_version}"

    @property
    def token(self) -> str:
        """The access token the sandbox accepts."""
        return self.state.token

    # -- steering -----------------------------------------------------------------------------
    def set_order(self, order_id: int, **fields: Any) -> dict[str, Any]:
        """Set top-level fields of an order (``updated_at`` becomes now); KeyError when unknown."""
        return self.state.set_order(order_id, **fields)

    def cancel_order(self, order_id: int, reason: str = "other") -> dict[str, Any]:
        """Cancel an order (``cancelled_at``, ``cancel_reason``, ``updated_at``); KeyError when unknown."""
        return self.state.cancel_order(order_id, reason)

    def edit_product(self, product_id: int, variants: dict[int, dict[str, Any]] | None = None,
                     **fields: Any) -> dict[str, Any]:
        """Set product fields and ``variants={variant_id: {field: value}}``; ``updated_at`` becomes now."""
        return self.state.edit_product(product_id, variants=variants, **fields)

    def delete_last_variant(self, product_id: int) -> dict[str, Any]:
        """Delete a product's last variant (a size no longer sold) and return it; ValueError if it is the only one."""
        return self.state.delete_last_variant(product_id)

    def set_variant_count(self, product_id: int, count: int) -> dict[str, Any]:
        """Give a product ``count`` variants (1..2048) now, adding drawn ones or dropping its last; return it.

        Raises:
            KeyError: unknown product. ValueError: ``count`` out of range.
        """
        return self.state.set_variant_count(product_id, count)

    def product(self, product_id: int) -> dict[str, Any]:
        """Return a product with every variant (the REST API shows at most 100); KeyError when unknown."""
        return self.state.product(product_id)

    def add_product(self, **fields: Any) -> dict[str, Any]:
        """Create a generated product now (ids keep ascending); ``fields`` override top-level values."""
        return self.state.add_product(**fields)

    def add_order(self, financial_status: str = "paid", shipping_code: str | None = None,
                  **fields: Any) -> dict[str, Any]:
        """Create an order now with an open fulfillment order; ``fields`` override top-level values."""
        return self.state.add_order(financial_status, shipping_code, **fields)

    def touch_products(self, pct: float = 1.0) -> int:
        """Change ``pct`` percent of the products (price +1.00, ``updated_at`` now); return the count."""
        return self.state.touch_products(pct)

    def writes(self) -> list[dict[str, Any]]:
        """Every non-GET API request received: ``{method, path, query, body, status, at}``."""
        return self.state.writes()

    def reset_writes(self) -> None:
        """Empty the write log."""
        self.state.reset_writes()

    def set_faults(self, latency_ms: float = 0, error_rate: float = 0.0, error_status: int = 500,
                   storm_429: int = 0, timeout_rate: float = 0.0, timeout_s: float = 5.0,
                   truncate_rate: float = 0.0, seed: int = 0) -> dict[str, Any]:
        """Switch API faults on (see :class:`~.faults.FaultConfig`); unnamed switches reset.

        Rates are shares of API requests drawn from one seeded stream: a request times out
        with ``timeout_rate``, else errors with ``error_rate``, else is truncated with
        ``truncate_rate``. ``storm_429=N`` answers the next N API requests 429.
        """
        return self.state.faults.set(latency_ms=latency_ms, error_rate=error_rate, error_status=error_status,
                                     storm_429=storm_429, timeout_rate=timeout_rate, timeout_s=timeout_s,
                                     truncate_rate=truncate_rate, seed=seed)

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self.state.faults.clear()

    def set_rate_limit(self, enabled: bool) -> None:
        """Turn the leaky bucket's 429 answers and GraphQL's THROTTLED answers on or off (the buckets refill)."""
        self.state.bucket.set_enabled(enabled)
        self.state.cost_bucket.set_enabled(enabled)

    def set_graphql_limit(self, enabled: bool | None = None, maximum: float | None = None,
                          restore_rate: float | None = None, available: float | None = None,
                          throttle_status: int | None = None, frozen: bool | None = None) -> dict[str, Any]:
        """Steer the GraphQL cost bucket; unnamed switches stay. Return the switches and the points available.

        Args:
            enabled: throttle queries asking more than the bucket holds.
            maximum: points the bucket holds (Shopify's standard plan: 2,000).
            restore_rate: points it regains a second (standard plan: 100).
            available: points it holds now.
            throttle_status: HTTP status of a THROTTLED answer, 200 (Shopify's) or 429.
            frozen: stop the bucket's clock (only :meth:`pass_time` refills it), or start it again.
        """
        return self.state.cost_bucket.set(enabled=enabled, maximum=maximum, restore_rate=restore_rate,
                                          available=available, throttle_status=throttle_status, frozen=frozen)

    def pass_time(self, seconds: float) -> None:
        """Refill the GraphQL cost bucket as if ``seconds`` had passed (for a client that records its waits)."""
        self.state.cost_bucket.pass_time(seconds)

    def set_scopes(self, scopes: list[str]) -> None:
        """The access scopes the token has (``GET /admin/oauth/access_scopes.json``)."""
        with self.state.lock:
            self.state.scopes = list(scopes)

    def stats(self) -> dict[str, Any]:
        """Request counters: totals, per ``METHOD path-template``, per status, 429s, faults served."""
        return self.state.stats()

    def reset_stats(self) -> None:
        """Zero the request counters."""
        self.state.reset_stats()

    def info(self) -> dict[str, Any]:
        """Counts, versions, location ids and a token hint (as ``GET /__sandbox/info``)."""
        return self.state.info()

    def inventory(self, inventory_item_id: int, location_id: int) -> int | None:
        """Return ``available`` of an item at a location, ``None`` when not stocked there."""
        return self.state.inventory(inventory_item_id, location_id)

    def fulfillments(self, order_id: int) -> list[dict[str, Any]]:
        """Return the fulfillments of an order; KeyError when unknown."""
        return self.state.fulfillments(order_id)
