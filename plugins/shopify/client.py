"""HTTP to the Shopify Admin API: token auth, leaky-bucket and cost pacing, retries, error text, paging.

REST is what the connector speaks; :meth:`ShopifyClient.graphql` sends the few GraphQL queries
REST cannot replace (a product's variants past its 100th) through the same client, retries
and error translation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import orjson

from engine.errors import TransientError
from engine.gcpause import paused
from engine.http import Retrier, classify, json_body, make_client, translate
from plugins.shopify import graphql as gql
from plugins.shopify.paging import LinkPaginator

log = logging.getLogger(__name__)

CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
#: The API version Shopify answered with (it falls forward from versions it no longer supports).
VERSION_HEADER = "X-Shopify-API-Version"


class TokenAuth(httpx.Auth):
    """Adds ``X-Shopify-Access-Token`` to every request (the token never appears in a repr)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        """Set the token header on the request."""
        request.headers["X-Shopify-Access-Token"] = self._token
        yield request

    def __repr__(self) -> str:
        return "TokenAuth(****)"


def shopify_message(response: httpx.Response) -> str:
    """Shopify's own error text: its ``errors`` value (string, list, or field -> messages) made one line.

    >>> shopify_message(httpx.Response(422, json={"errors": {"title": ["can't be blank"]}}))
    "title: can't be blank"
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    errors = body.get("errors", body.get("error")) if isinstance(body, dict) else None
    if errors is None:
        text = response.text.strip()
        return text[:300] if text else response.reason_phrase
    return _flatten(errors)


def _flatten(errors: Any) -> str:
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(_flatten(e) for e in errors)
    if isinstance(errors, dict):
        parts = []
        for field, value in errors.items():
            text = _flatten(value)
            parts.append(text if field == "base" else f"{field}: {text}")
        return "; ".join(parts)
    return str(errors)


class Pacer:
    """Keeps under Shopify's leaky bucket using the ``X-Shopify-Shop-Api-Call-Limit`` header.

    After each response it notes ``used/size``; before the next request, if the
    bucket (less what leaked since, at ``rate`` calls per second) is within
    ``headroom`` calls of full, it waits for enough to leak.

    Args:
        rate: Calls per second the bucket leaks (the shop plan's rate).
        sleep: Waits the given seconds.
        monotonic: Seconds from a monotonic clock.
    """

    def __init__(self, rate: float, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.sleep = sleep
        self.monotonic = monotonic
        self.used: int | None = None
        self.size = 0
        self.at = 0.0

    def observe(self, response: httpx.Response) -> None:
        """Note the bucket level a response reports (ignored when absent or malformed)."""
        value = response.headers.get(CALL_LIMIT_HEADER)
        if not value:
            return
        used, _, size = value.partition("/")
        try:
            self.used, self.size = int(used), int(size)
        except ValueError:
            return
        self.at = self.monotonic()

    def wait(self) -> float:
        """Wait, if needed, before the next request; return the seconds waited."""
        if self.used is None or self.size <= 0:
            return 0.0
        headroom = max(1, self.size // 10)
        level = self.used - (self.monotonic() - self.at) * self.rate
        over = level - (self.size - headroom) + 1
        if over <= 0:
            return 0.0
        seconds = over / self.rate
        self.sleep(seconds)
        return seconds


class ShopifyClient:
    """One shop's REST Admin API: versioned paths, JSON in and out, paced and retried.

    Args:
        shop_url: ``https://NAME.myshopify.com`` (or any base URL serving the API).
        token: The Admin API access token.
        api_version: ``YYYY-MM``.
        timeout: Seconds per request phase.
        max_retries: Retries of a failed call (throttling is waited out separately).
        rate: Calls per second the shop's bucket leaks.
        transport: Replaces the network transport (tests).
        sleep: Waits the given seconds (pacing and backoff).
        monotonic: A monotonic clock (pacing).
    """

    def __init__(self, shop_url: str, token: str, *, api_version: str, timeout: float = 30.0,
                 max_retries: int = 5, rate: float = 2.0, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.prefix = f"/admin/api/{api_version}/"
        self.api_version = api_version
        #: The version Shopify says it served (``X-Shopify-API-Version``), once a versioned call answered.
        self.served_version: str | None = None
        self.http = make_client(shop_url.rstrip("/"), auth=TokenAuth(token), timeout=timeout,
                                headers={"Accept": "application/json"}, transport=transport)
        self.pacer = Pacer(rate, sleep, monotonic)
        self.cost_pacer = gql.CostPacer(sleep, monotonic)
        self.retrier = Retrier(max_attempts=max_retries + 1, max_wait=max(300.0, timeout * (max_retries + 1)),
                               sleep=sleep)
        #: Requests sent (each retry counts), for logs and tests; ``graphql_requests`` of them GraphQL.
        self.requests = 0
        self.graphql_requests = 0

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def url(self, path: str) -> str:
        """The request path of ``path``: as is when it starts with ``/``, else under ``/admin/api/{version}/``."""
        return path if path.startswith("/") else self.prefix + path

    # -- one call ---------------------------------------------------------------------------

    def call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, retry: bool = True) -> tuple[Any, httpx.Response]:
        """Send one request and return its parsed JSON body and the response.

        Args:
            method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
            path: See :meth:`url`.
            params: Query parameters (lists are sent comma-separated).
            body: JSON body of a write.
            retry: Retry transient failures; off for writes that are not idempotent.

        Raises:
            TransientError: Throttled, 5xx, timed out or cut short, after the retries.
            AuthError: 401/403.
            RemoteRejected: Another 4xx on a write, with Shopify's own message.
            ConnectorError: Another 4xx on a read.
        """
        url = self.url(path)
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        content = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        write = method != "GET"

        def once() -> tuple[Any, httpx.Response]:
            self.pacer.wait()
            self.requests += 1
            try:
                response = self.http.request(method, url, params=query, content=content, headers=headers)
            except httpx.HTTPError as exc:
                raise translate(exc) from exc
            self.pacer.observe(response)
            if self.served_version is None and url.startswith(self.prefix):
                self._note_version(response)
            classify(response, write=write, message_from=shopify_message)
            with paused():  # a page of records is thousands of fresh objects (engine.gcpause)
                return json_body(response), response

        return self.retrier.call(once, on_retry=_log_retry) if retry else once()

    def _note_version(self, response: httpx.Response) -> None:
        served = response.headers.get(VERSION_HEADER)
        if not served:
            return
        self.served_version = served
        if served != self.api_version:
            log.warning("Shopify served API version %s, not the %s the integration asks for: that version is no "
                        "longer supported, so Shopify answers with its oldest supported one. Check the changes "
                        "between them, then set api_version to %s or later.", served, self.api_version, served)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return its parsed body."""
        return self.call("GET", path, params=params)[0]

    def post(self, path: str, body: Any, *, retry: bool = True) -> Any:
        """POST a JSON body to ``path`` and return the parsed answer."""
        return self.call("POST", path, body=body, retry=retry)[0]

    def graphql(self, query: str, variables: Mapping[str, Any], *, cost: float = 0.0) -> dict[str, Any]:
        """POST one GraphQL query to ``graphql.json`` and return its ``data``.

        GraphQL has its own limit (cost points, not requests), so the REST pacing is skipped:
        the query waits, when the last answer's ``throttleStatus`` says so, until the bucket
        holds ``cost`` points. A THROTTLED answer is waited out (the time the bucket needs to
        refill, counted against the retry wait budget like a 429); 5xx answers and timeouts are
        retried like any call.

        Args:
            query: The query document.
            variables: Its variables.
            cost: Points the query is expected to ask (``requestedQueryCost``), for pacing.

        Raises:
            TransientError: Throttled, 5xx, timed out or cut short, after the retries.
            AuthError: 401/403, or ACCESS_DENIED (the token lacks a scope the query needs).
            ConnectorError: Shopify refused the query (with its own message) or answered without data.
        """
        url = self.prefix + gql.GRAPHQL_PATH
        content = orjson.dumps({"query": query, "variables": dict(variables)})
        headers = {"Content-Type": "application/json"}

        def once() -> dict[str, Any]:
            self.cost_pacer.wait(cost)
            self.requests += 1
            self.graphql_requests += 1
            try:
                response = self.http.post(url, content=content, headers=headers)
            except httpx.HTTPError as exc:
                raise translate(exc) from exc
            return gql.answer(response, query, self.cost_pacer, shopify_message)

        return self.retrier.call(once, on_retry=_log_retry)

    # -- paged lists ------------------------------------------------------------------------

    def pages(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
              limit: int = 250) -> Iterator[tuple[list[dict[str, Any]], bool]]:
        """Yield ``(records, more)`` for each page of a list endpoint, following ``Link`` headers.

        Args:
            path: The list endpoint (``products.json``).
            key: The body's list key (``products``).
            params: Filters, sent with the first request only.
            limit: Page size (1..250).
        """
        for records, after in self.paged(path, key, params, limit=limit):
            yield records, after is not None

    def paged(self, path: str, key: str, params: Mapping[str, Any] | None = None, *, limit: int = 250,
              page_info: str | None = None) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        """Like :meth:`pages`, yielding ``(records, page_info of the next page or None)``.

        With ``page_info`` (one this method yielded) the paging resumes at that page; only
        ``params``' ``fields`` are sent with it, as Shopify takes no other filter there.
        """
        paginator = LinkPaginator(path, params or {}, limit=limit, page_info=page_info)
        while paginator.has_next:
            req_path, query = paginator.next_request()
            body, response = self.call("GET", req_path, params=query)
            paginator.update(response)
            yield body.get(key) or [], paginator.page_info

    def each(self, path: str, key: str, params: Mapping[str, Any] | None = None, *,
             limit: int = 250) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint, page after page."""
        for records, _ in self.pages(path, key, params, limit=limit):
            yield from records


def _param(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _log_retry(exc: TransientError, wait: float) -> None:
    level = logging.INFO if exc.status == 429 else logging.WARNING
    log.log(level, "shop call failed (%s); retrying in %.2fs", exc, wait)
