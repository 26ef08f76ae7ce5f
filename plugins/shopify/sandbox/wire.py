"""Request, response and error values passed between the HTTP server and the route handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .data import dumps

NOT_FOUND = b'{"errors":"Not Found"}'
REQUIRED = "Required parameter missing or invalid"


class ApiError(Exception):
    """A Shopify-style error answer: raising it anywhere in a handler ends the request.

    Args:
        status: HTTP status code.
        errors: the value of the body's ``errors`` key (a string, a list of strings, or an
            object of field to message(s)), as Shopify sends it.
        headers: extra response headers.
    """

    def __init__(self, status: int, errors: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        """Return the error as a response."""
        body = NOT_FOUND if self.errors == "Not Found" else dumps({"errors": self.errors})
        return Response(self.status, body, dict(self.headers))


def not_found() -> ApiError:
    """Return Shopify's 404 (``{"errors":"Not Found"}``)."""
    return ApiError(404, "Not Found")


def missing(name: str, status: int = 400) -> ApiError:
    """Return the error Shopify gives for a missing or malformed required parameter."""
    return ApiError(status, {name: REQUIRED})


@dataclass(slots=True)
class Request:
    """One parsed HTTP request as the handlers see it.

    Attributes:
        method: upper-case HTTP method.
        path: URL path without the query string.
        query: query parameters, last value wins (blank values kept).
        headers: request headers (case-insensitive mapping from the server).
        body: the parsed JSON body, or ``None`` when there was none.
        raw: the raw body bytes.
        base: ``scheme://host`` the client used, for building ``Link`` URLs.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Any
    body: Any = None
    raw: bytes = b""
    base: str = ""


@dataclass(slots=True)
class Response:
    """An answer ready to be written to the socket.

    Attributes:
        status: HTTP status code.
        body: the body bytes.
        headers: extra headers (Content-Type and Content-Length are added by the server).
        content_type: the Content-Type value.
    """

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise ``obj`` with orjson into a JSON response."""
    return Response(status, dumps(obj), headers or {})


def int_param(query: dict[str, str], name: str) -> int | None:
    """Return an integer query parameter, ``None`` when absent or blank.

    Raises:
        ApiError: 400 when present but not an integer.
    """
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, {name: "expected Integer"}) from None


def id_list(query: dict[str, str], name: str) -> list[int] | None:
    """Return a comma-separated id list parameter as sorted unique ints (``None`` when absent).

    Raises:
        ApiError: 400 when an element is not an integer.
    """
    value = query.get(name)
    if value is None or value.strip() == "":
        return None
    try:
        return sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise ApiError(400, {name: "expected a comma-separated list of integers"}) from None


def word_list(query: dict[str, str], name: str, allowed: tuple[str, ...]) -> list[str] | None:
    """Return a comma-separated enum parameter, validated against ``allowed``.

    Raises:
        ApiError: 400 naming the bad value and the allowed ones.
    """
    value = query.get(name)
    if value is None or value.strip() == "":
        return None
    words = sorted({part.strip() for part in value.split(",") if part.strip()})
    bad = [w for w in words if w not in allowed]
    if bad:
        raise ApiError(400, {name: f"invalid value {', '.join(bad)}; expected one of {', '.join(allowed)}"})
    return words
