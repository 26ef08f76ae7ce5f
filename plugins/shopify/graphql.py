"""The GraphQL Admin API as the REST connector uses it: cost pacing, THROTTLED answers, GraphQL errors.

Shopify limits GraphQL by cost, not by requests: each answer's ``extensions.cost`` says what
the query asked (``requestedQueryCost``) and how full the app's bucket is
(``throttleStatus``: ``maximumAvailable``, ``currentlyAvailable``, ``restoreRate`` points a
second). A query asking more than the bucket holds is answered ``THROTTLED`` (HTTP 200,
sometimes 429) without ``data``. Other GraphQL errors (a field that does not exist, a
scope the token lacks) also come with HTTP 200, in the body's ``errors`` list.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from engine.errors import AuthError, ConnectorError, TransientError
from engine.http import MessageFrom, classify, json_body

#: The endpoint, under ``/admin/api/{version}/``.
GRAPHQL_PATH = "graphql.json"
#: Shortest wait after a THROTTLED answer (one that reports enough points must not be resent at once).
MIN_THROTTLE_WAIT = 1.0
#: Points waited for beyond a query's cost: Shopify reports whole points, and a wait that ends
#: exactly at the cost can fall a fraction short and be throttled again.
MARGIN = 1.0


def throttle_status(body: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """``(requested cost, points available, restore rate, bucket size)`` of an answer, or None if it has none."""
    cost = (body.get("extensions") or {}).get("cost") if isinstance(body.get("extensions"), Mapping) else None
    status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
    if not isinstance(status, Mapping):
        return None
    try:
        return (float(cost.get("requestedQueryCost") or 0), float(status["currentlyAvailable"]),
                float(status["restoreRate"]), float(status.get("maximumAvailable") or math.inf))
    except (KeyError, TypeError, ValueError):
        return None


class CostPacer:
    """Keeps under the GraphQL cost bucket using the ``throttleStatus`` each answer reports.

    After each answer it notes the points available and the restore rate; before the
    next query, when the bucket (plus what it regained since) holds less than the query
    costs, it waits for it to refill.

    Args:
        sleep: Waits the given seconds.
        monotonic: Seconds from a monotonic clock.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sleep = sleep
        self.monotonic = monotonic
        self.available: float | None = None
        self.restore = 0.0
        self.maximum = math.inf
        self.at = 0.0

    def observe(self, body: Mapping[str, Any]) -> None:
        """Note the bucket an answer reports (ignored when it reports none)."""
        status = throttle_status(body)
        if status is not None:
            _, self.available, self.restore, self.maximum = status
            self.at = self.monotonic()

    def wait(self, cost: float) -> float:
        """Wait, if needed, until the bucket holds ``cost`` points; return the seconds waited."""
        if self.available is None or self.restore <= 0:
            return 0.0
        level = min(self.maximum, self.available + (self.monotonic() - self.at) * self.restore)
        if level >= cost or cost > self.maximum:  # enough, or more than the bucket ever holds: Shopify decides
            return 0.0
        seconds = (cost + MARGIN - level) / self.restore
        self.sleep(seconds)
        return seconds


def operation_name(query: str) -> str:
    """The name of a query document's operation (``query ProductVariantsPage(...)``), or ``query``."""
    head = query.split("{", 1)[0].split()
    return head[1].split("(", 1)[0] if len(head) > 1 else "query"


def errors_text(errors: Any) -> str:
    """Shopify's GraphQL ``errors`` made one line: each message, with its code when it has one."""
    if not isinstance(errors, list):
        return str(errors)
    parts = []
    for error in errors:
        if not isinstance(error, Mapping):
            parts.append(str(error))
            continue
        code = _code(error)
        parts.append(f"{error.get('message')} ({code})" if code else str(error.get("message")))
    return "; ".join(parts)


def _code(error: Any) -> Any:
    extensions = error.get("extensions") if isinstance(error, Mapping) else None
    return extensions.get("code") if isinstance(extensions, Mapping) else None


def answer(response: httpx.Response, query: str, pacer: CostPacer, message_from: MessageFrom) -> dict[str, Any]:
    """The ``data`` of a GraphQL answer, or the engine error it stands for.

    Raises:
        TransientError: THROTTLED (status 429; ``retry_after`` is the time the bucket needs to
            hold the query's cost), another 429, a 5xx, or a body cut short.
        AuthError: 401/403, or ACCESS_DENIED (the token lacks a scope the query needs).
        ConnectorError: Shopify refused the query (its ``errors``, with its own text), another 4xx,
            or an answer without ``data``.
    """
    request = response.request
    where = f"{request.method} {request.url.path} ({operation_name(query)})"
    body: Any = None
    if response.status_code in (200, 429):
        body = json_body(response)
        if isinstance(body, Mapping):
            pacer.observe(body)
            _raise_throttled(body, response, where)
    classify(response, write=False, message_from=message_from)
    if not isinstance(body, Mapping):
        raise ConnectorError(f"{where} answered {type(body).__name__}, not a GraphQL response object",
                             status=response.status_code, url=str(request.url), body=response.text[:500])
    errors = body.get("errors")
    if errors:
        denied = isinstance(errors, list) and any(_code(e) == "ACCESS_DENIED" for e in errors)
        raise (AuthError if denied else ConnectorError)(
            f"Shopify refused the GraphQL query: {errors_text(errors)} ({where})", status=response.status_code,
            url=str(request.url), body=response.text[:500])
    data = body.get("data")
    if not isinstance(data, dict):
        raise ConnectorError(f"{where} answered without data", status=response.status_code, url=str(request.url),
                             body=response.text[:500])
    return data


def _raise_throttled(body: Mapping[str, Any], response: httpx.Response, where: str) -> None:
    errors = body.get("errors")
    throttled = isinstance(errors, list) and any(
        _code(e) == "THROTTLED" or (isinstance(e, Mapping) and e.get("message") == "Throttled") for e in errors)
    if not throttled:
        return
    status = throttle_status(body)
    wait = None
    if status is not None and status[2] > 0:
        requested, available, restore, _ = status
        wait = max(MIN_THROTTLE_WAIT, (requested + MARGIN - available) / restore)
    detail = (f"asked {status[0]:g} points, {status[1]:g} available, {status[2]:g} regained a second"
              if status is not None else "no cost reported")
    raise TransientError(f"{response.status_code} from {where}: Throttled ({detail})", status=429,
                         url=str(response.request.url), retry_after=wait)
