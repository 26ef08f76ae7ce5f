"""Shopify REST cursor pagination: limit parsing, opaque page_info tokens and Link headers.

Rules (as Shopify documents them):

- ``limit`` defaults to 50; values above 250 are clamped to 250 (Shopify answers a
  ``limit=1000`` request with 250 records rather than an error), values below 1 to 1;
  a non-integer is a 400.
- The first page is in the body; when more records exist, a ``Link`` header carries
  ``rel="next"`` and, after the first page, ``rel="previous"`` URLs holding only ``limit``,
  ``fields`` (if given) and ``page_info``.
- A request carrying ``page_info`` may add only ``limit`` and ``fields``; anything else is a
  400 ``{"errors":{"<param>":"<param> cannot be passed when page_info is present. ..."}}``,
  one entry per parameter, as Shopify answers it. The token keeps the original filters.
- Records are ordered by id ascending.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .data import dumps, loads, parse_ts
from .wire import ApiError, Request, Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 250
CURSOR_PARAMS = frozenset(("page_info", "limit", "fields"))


def parse_limit(query: dict[str, str], default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """Return the page size asked for, clamped to ``1..maximum``.

    Raises:
        ApiError: 400 when ``limit`` is not an integer.
    """
    raw = query.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, {"limit": "expected Integer"}) from None
    return max(1, min(maximum, value))


def time_filters(query: dict[str, str], names: tuple[str, ...]) -> dict[str, int]:
    """Parse the ISO-8601 filter parameters among ``names`` that are present.

    Raises:
        ApiError: 400 naming the parameter that is not a timestamp.
    """
    out: dict[str, int] = {}
    for name in names:
        value = query.get(name)
        if value:
            try:
                out[name] = parse_ts(value)
            except ValueError:
                raise ApiError(400, {name: f"invalid timestamp {value!r}; expected ISO-8601"}) from None
    return out


def encode_cursor(resource: str, direction: str, anchor: Any, filters: dict[str, Any]) -> str:
    """Return an opaque ``page_info`` token."""
    raw = dumps({"r": resource, "d": direction, "a": anchor, "f": filters})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(query: dict[str, str], resource: str) -> tuple[str, Any, dict[str, Any]]:
    """Validate a ``page_info`` request and return ``(direction, anchor, filters)``.

    Raises:
        ApiError: 400 when other parameters accompany ``page_info`` or the token is invalid.
    """
    extra = sorted(set(query) - CURSOR_PARAMS)
    if extra:  # Shopify's answer: one message per parameter, keyed by it
        raise ApiError(400, {name: f"{name} cannot be passed when page_info is present. See "
                                   f"https://help.shopify.com/api/guides/paginated-rest-results for more information."
                             for name in extra})
    token = query["page_info"]
    try:
        data = loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["r"] != resource or data["d"] not in ("next", "prev"):
            raise ValueError(token)
        anchor = data["a"]
        return data["d"], tuple(anchor) if isinstance(anchor, list) else anchor, data["f"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ApiError(400, {"page_info": "Invalid value."}) from None


def window(keys: list[Any], anchor: Any, direction: str, limit: int) -> tuple[int, int]:
    """Return the ``[lo, hi)`` slice of the sorted ``keys`` forming the requested page."""
    if anchor is None:
        lo = 0
    elif direction == "next":
        lo = bisect_right(keys, anchor)
    else:
        lo = max(0, bisect_left(keys, anchor) - limit)
    return lo, min(len(keys), lo + limit)


def link_header(url: str, resource: str, filters: dict[str, Any], keys: list[Any], lo: int, hi: int,
                limit: int, fields: str | None) -> str | None:
    """Build the ``Link`` header for the page ``keys[lo:hi]``, or ``None`` when it is the only one.

    Args:
        url: absolute URL of the list endpoint, without query.
        resource: cursor namespace (a token is only valid for its own resource).
        filters: the filters the token must carry.
        keys: all matching keys, ascending.
        lo: first index of the page.
        hi: one past the last index of the page.
        limit: page size to repeat in the links.
        fields: the ``fields`` parameter to repeat, if any.
    """
    extra = f"&fields={quote(fields, safe=',')}" if fields else ""
    links = []
    if lo > 0 and hi > lo:
        token = encode_cursor(resource, "prev", keys[lo], filters)
        links.append(f'<{url}?limit={limit}{extra}&page_info={token}>; rel="previous"')
    if hi < len(keys) and hi > 0:
        token = encode_cursor(resource, "next", keys[hi - 1], filters)
        links.append(f'<{url}?limit={limit}{extra}&page_info={token}>; rel="next"')
    return ", ".join(links) or None


def parse_fields(query: dict[str, str]) -> tuple[str, ...] | None:
    """Return the ``fields`` selection as a tuple of names, or ``None`` for whole objects."""
    raw = query.get("fields")
    if not raw:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    return names or None


def list_page(req: Request, resource: str, filters_of: Callable[[dict[str, str]], dict[str, Any]],
              keys_of: Callable[[dict[str, Any]], list[Any]],
              body_of: Callable[[list[Any], tuple[str, ...] | None], bytes],
              max_limit: int = MAX_LIMIT) -> Response:
    """Answer a paginated list request.

    Args:
        req: the request.
        resource: cursor namespace.
        filters_of: parses the first request's query into JSON-able filters (may raise ApiError).
        keys_of: returns all matching keys, ascending, for the filters.
        body_of: renders the body for a page of keys and the ``fields`` selection.
        max_limit: the endpoint's maximum page size.
    """
    q = req.query
    limit = parse_limit(q, maximum=max_limit)
    if "page_info" in q:
        direction, anchor, filters = decode_cursor(q, resource)
    else:
        direction, anchor, filters = "next", None, filters_of(q)
    keys = keys_of(filters)
    lo, hi = window(keys, anchor, direction, limit)
    body = body_of(keys[lo:hi], parse_fields(q))
    link = link_header(req.base + req.path, resource, filters, keys, lo, hi, limit, q.get("fields"))
    return Response(200, body, {"Link": link} if link else {})
