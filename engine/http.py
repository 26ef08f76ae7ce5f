"""The HTTP layer every store connector shares: clients, status classification, error translation, retries.

A connector builds one client per run with :func:`make_client`, turns every
response into either data or an :mod:`engine.errors` exception with
:func:`classify`, turns every ``httpx`` exception into one with
:func:`translate`, and wraps each call in a :class:`Retrier` so throttling,
5xx answers and timeouts are retried with bounded, jittered backoff.

What this module decides, for every connector alike:

===========================  ===================  ===========
What happened                Raised               Severity
===========================  ===================  ===========
429, 5xx, timeout, dropped   ``TransientError``   retry
connection, truncated or
undecodable body
401, 403                     ``AuthError``        error
other 4xx on a write         ``RemoteRejected``   error
other 4xx on a read, 3xx     ``ConnectorError``   error
===========================  ===================  ===========
"""

from __future__ import annotations

import email.utils
import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import orjson

from engine.errors import AuthError, ConnectorError, RemoteRejected, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")
MessageFrom = Callable[[httpx.Response], str]

#: Longest piece of a response body quoted in an error message.
MAX_QUOTE = 500


def make_client(base_url: str, *, auth: httpx.Auth | None = None, headers: Mapping[str, str] | None = None,
                timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                max_connections: int = 10) -> httpx.Client:
    """Build the one ``httpx.Client`` a connector uses for a run.

    Args:
        base_url: The store's base URL; request paths are relative to it.
        auth: The store's ``httpx.Auth`` (adds credentials to every request).
        headers: Extra default headers (``Accept`` and the like).
        timeout: Seconds allowed for each of connect, read, write and pool waits.
        transport: Replaces the network transport (tests of error translation).
        max_connections: Connection pool size.

    Returns:
        A client with explicit timeouts and limits that does not follow redirects
        (a redirected API call is reported, never silently replayed as a GET).
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                          keepalive_expiry=30.0)
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        headers=dict(headers or {}),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=limits,
        transport=transport if transport is not None else SchemeTransport(limits),
        follow_redirects=False,
    )


class SchemeTransport(httpx.BaseTransport):
    """httpx's own transport, built on first use: one for ``https://`` (verified TLS), one for ``http://``.

    ``httpx.Client`` builds its transport's TLS context (the CA bundle, some
    tens of milliseconds) when the client is made, whatever the URL. A run
    against a plain-HTTP address (a sandbox, a store behind a local proxy) never
    uses it; a run against HTTPS builds it at its first request, exactly as
    httpx would have. The plain-HTTP transport refuses HTTPS requests, so no
    request ever goes out over TLS without verification. Proxies from the
    environment are still httpx's (``trust_env``): they are mounted beside this.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._by_scheme: dict[str, httpx.HTTPTransport] = {}

    def _for(self, scheme: str) -> httpx.HTTPTransport:
        transport = self._by_scheme.get(scheme)
        if transport is None:
            # verify=False only ever serves http:// (handle_request routes by scheme): no TLS, no CA bundle.
            transport = httpx.HTTPTransport(verify=scheme == "https", limits=self._limits)
            self._by_scheme[scheme] = transport
        return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'.",
                                            request=request)
        return self._for(scheme).handle_request(request)

    def close(self) -> None:
        for transport in self._by_scheme.values():
            transport.close()
        self._by_scheme.clear()


def default_message(response: httpx.Response) -> str:
    """The error text of a response: a JSON ``errors``/``error``/``message``/``detail`` value, else the body.

    Store plugins pass their own ``message_from`` to :func:`classify` when their
    error bodies have another shape.
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        for key in ("errors", "error", "message", "detail"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else orjson.dumps(value).decode()
    text = response.text.strip()
    return (text[:MAX_QUOTE] + "...") if len(text) > MAX_QUOTE else (text or response.reason_phrase)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (``Retry-After`` as seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def classify(response: httpx.Response, *, write: bool, message_from: MessageFrom = default_message) -> None:
    """Raise the engine error a non-2xx response stands for; return for 1xx/2xx.

    Args:
        response: The store's answer.
        write: Whether the request changed data (a 4xx is then ``RemoteRejected``).
        message_from: Pulls the store's own error text out of a response.

    Raises:
        TransientError: 429 or 5xx (``retry_after`` from the ``Retry-After`` header).
        AuthError: 401 or 403.
        RemoteRejected: Another 4xx answering a write.
        ConnectorError: Another 4xx answering a read, or a redirect.
    """
    status = response.status_code
    if status < 300:
        return
    request = response.request
    url = str(request.url)
    where = f"{request.method} {request.url.path}"
    if 300 <= status < 400:
        target = response.headers.get("Location", "(no Location header)")
        raise ConnectorError(
            f"{status} from {where}: the server redirects to {target}; point the base URL at the final address",
            status=status, url=url)
    message = message_from(response)
    body = response.text[:MAX_QUOTE]
    text = f"{status} {response.reason_phrase} from {where}: {message}"
    if status == 429 or status >= 500:
        raise TransientError(text, status=status, url=url, body=body, retry_after=retry_after(response))
    if status in (401, 403):
        raise AuthError(text, status=status, url=url, body=body)
    if write:
        raise RemoteRejected(text, status=status, url=url, body=body)
    raise ConnectorError(text, status=status, url=url, body=body)


def translate(exc: httpx.HTTPError) -> ConnectorError:
    """The engine error an ``httpx`` exception stands for; the caller raises it ``from exc``.

    Timeouts, dropped connections, protocol errors (a body cut short) and
    undecodable bodies are ``TransientError``; an ``HTTPStatusError`` is
    classified by its status; anything else (an unsupported URL scheme, too many
    redirects) is a plain ``ConnectorError``.
    """
    url = _url_of(exc)
    where = f" ({url})" if url else ""
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            classify(exc.response, write=exc.request.method not in ("GET", "HEAD"))
        except ConnectorError as err:
            return err
        return ConnectorError(str(exc), status=exc.response.status_code, url=url)
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"timed out{where}: {type(exc).__name__} {exc}".rstrip(": "), url=url)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return ConnectorError(f"unsupported URL{where}: {exc}; use an http:// or https:// address", url=url)
    if isinstance(exc, httpx.RemoteProtocolError):
        return TransientError(f"the connection broke mid-response{where}: {exc}", url=url)
    if isinstance(exc, (httpx.TransportError, httpx.DecodingError)):
        return TransientError(f"{type(exc).__name__}{where}: {exc}", url=url)
    return ConnectorError(f"{type(exc).__name__}{where}: {exc}", url=url)


def _url_of(exc: httpx.HTTPError) -> str | None:
    try:
        return str(exc.request.url)
    except RuntimeError:  # no request attached
        return None


class Retrier:
    """Calls a function again while it raises ``TransientError``, with bounded, jittered backoff.

    Two budgets bound the retries. Failures (5xx, timeouts, broken bodies) may
    happen ``max_attempts`` times in all. Throttling (a 429) is not a failure:
    it is waited out and only the total-wait budget applies. Whenever the error
    carries ``retry_after`` (the server's ``Retry-After``) exactly that is
    waited; otherwise the backoff is exponential with jitter. No call ever
    waits more than ``max_wait`` seconds in total.

    Args:
        max_attempts: Tries allowed for failures, the first one included (>= 1).
        max_wait: Seconds one call may spend waiting, over all its retries.
        base: First backoff in seconds; it doubles each failure.
        cap: Longest single backoff in seconds (a ``retry_after`` may exceed it).
        sleep: Waits the given seconds (inject a recorder in tests).
        random: Returns a float in [0, 1) for jitter.

    Example:
        >>> waits = []
        >>> retrier = Retrier(max_attempts=3, sleep=waits.append)
        >>> retrier.call(lambda: 42)
        42
    """

    def __init__(self, *, max_attempts: int = 5, max_wait: float = 300.0, base: float = 0.5,
                 cap: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = _random.random) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.random = random

    def backoff(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure: exponential, capped, half jittered."""
        ceiling = min(self.cap, self.base * (2 ** (failures - 1)))
        return ceiling / 2 + self.random() * ceiling / 2

    def call(self, fn: Callable[[], T], *, on_retry: Callable[[TransientError, float], None] | None = None) -> T:
        """Return ``fn()``, retrying it while it raises ``TransientError`` and the budgets allow.

        Args:
            fn: The operation; it raises engine errors, never bare httpx ones.
            on_retry: Told each error and the wait before the next try (logging).

        Raises:
            TransientError: The last one, once a budget is spent.
            EngineError: Any non-transient error, at once.
        """
        failures = throttles = 0
        waited = 0.0
        while True:
            try:
                return fn()
            except TransientError as exc:
                if exc.status == 429:
                    throttles += 1
                    step = throttles
                else:
                    failures += 1
                    if failures >= self.max_attempts:
                        raise
                    step = failures
                wait = exc.retry_after if exc.retry_after is not None else self.backoff(step)
                if waited + wait > self.max_wait:
                    raise
                if on_retry is not None:
                    on_retry(exc, wait)
                else:
                    log.info("retrying in %.2fs after: %s", wait, exc)
                waited += wait
                self.sleep(wait)


def json_body(response: httpx.Response) -> Any:
    """Parse a JSON response body (an empty body is ``{}``).

    Raises:
        TransientError: The body is not valid JSON (cut short on the way).
    """
    content = response.content
    if not content:
        return {}
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise TransientError(
            f"{response.request.method} {response.request.url.path} answered a body that is not valid JSON "
            f"({len(content)} bytes): {exc}", status=response.status_code, url=str(response.request.url),
        ) from exc
