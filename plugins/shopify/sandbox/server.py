"""The HTTP/1.1 keep-alive server: request parsing, the API pipeline and response writing.

An API request (``/admin/api/{version}/...``) passes, in order: latency, the fault draw
(timeout / error / truncate), the access token check (401), a pending 429 storm, the
leaky bucket (429), then its route. Every REST answer carries
``X-Shopify-Shop-Api-Call-Limit``; every non-GET REST request lands in the write log.
GraphQL (``POST graphql.json``) has its own cost limit instead of the leaky bucket (its
route throttles), carries no call-limit header and writes nothing (it serves a query).
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from . import api_catalog, api_graphql, api_orders
from .cdn import serve_image
from .control import PREFIX as CONTROL_PREFIX
from .control import handle_control
from .data import dumps, loads
from .faults import THROTTLED
from .state import ShopState, served_version
from .wire import ApiError, Request, Response, not_found

# Versioned Admin API paths, plus the one unversioned endpoint the connector uses (access scopes).
API_PATH = re.compile(r"^/admin/(?:api/(\d{4}-\d{2}|unstable)/|(?=oauth/access_scopes\.json))(.+)$")
UNAUTHORIZED = "[API] Invalid API key or access token (unrecognized login or wrong password)"
CALL_LIMIT = "X-Shopify-Shop-Api-Call-Limit"
VERSION = "X-Shopify-API-Version"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Router:
    """Maps ``(method, path below the version)`` to a handler and its stats template."""

    def __init__(self, routes: tuple[tuple[str, str, Any, str], ...]) -> None:
        self._exact: dict[tuple[str, str], tuple[Any, str]] = {}
        self._patterns: list[tuple[str, re.Pattern[str], Any, str]] = []
        for method, pattern, handler, template in routes:
            if "(" in pattern:
                self._patterns.append((method, re.compile(pattern + "$"), handler, template))
            else:
                self._exact[(method, pattern.replace("\\", ""))] = (handler, template)

    def match(self, method: str, rel: str) -> tuple[Any, tuple[str, ...], str] | None:
        """Return ``(handler, path arguments, template)`` or ``None``."""
        hit = self._exact.get((method, rel))
        if hit is not None:
            return hit[0], (), hit[1]
        for m_method, pattern, handler, template in self._patterns:
            if m_method == method:
                m = pattern.match(rel)
                if m:
                    return handler, m.groups(), template
        return None


ROUTER = Router(api_catalog.ROUTES + api_orders.ROUTES + api_graphql.ROUTES)
GRAPHQL_PATH = re.compile(r"^/admin/api/(?:\d{4}-\d{2}|unstable)/graphql\.json$")


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`ShopState`."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: ShopState) -> None:
        self.state = state
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does (slow on some hosts)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timed-out test client, a stopped sandbox) is normal here; other errors print."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.stopping.is_set():
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open client connection so keep-alive threads end."""
        self.stopping.set()
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class SandboxHandler(BaseHTTPRequestHandler):
    """Parses one request, runs it through the pipeline and writes the answer."""

    protocol_version = "HTTP/1.1"
    server_version = "ShopifySandbox/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    server: SandboxServer

    def setup(self) -> None:
        """Track the connection so ``stop()`` can close it."""
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection."""
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Stay quiet: tests and benchmarks read stats instead of logs."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        """Serve GET."""
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        """Serve POST."""
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        """Serve PUT."""
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        """Serve DELETE."""
        self._handle("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        """Serve PATCH."""
        self._handle("PATCH")

    # -- pipeline -----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        state = self.server.state
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(Response(400, dumps({"errors": {"body": "unreadable request body"}})))
            return
        path, _, qs = self.path.partition("?")
        query = {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()} if qs else {}
        try:
            if path.startswith(("/admin/api/", "/admin/oauth/")):
                self._api(state, method, path, query, raw)
                return
            state.count("requests", "control_requests" if path.startswith(CONTROL_PREFIX) else "other_requests")
            if path.startswith(CONTROL_PREFIX):
                body = self._json_body(raw)
                resp = handle_control(state, Request(method, path, query, self.headers, body, raw))
            elif method == "GET" and path.startswith("/cdn/"):
                resp = serve_image(state, path)
            else:
                raise not_found()
        except ApiError as exc:
            resp = exc.response()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        self._send(resp)

    @staticmethod
    def _json_body(raw: bytes) -> Any:
        if not raw.strip():
            return None
        try:
            return loads(raw)
        except ValueError as exc:
            raise ApiError(400, {"body": f"malformed JSON: {exc}"}) from None

    def _api(self, state: ShopState, method: str, path: str, query: dict[str, str], raw: bytes) -> None:
        faults, headers, fate = state.faults, {}, None
        graphql = GRAPHQL_PATH.match(path) is not None
        template = "unknown"
        resp: Response | None = None
        if faults.active():
            config = faults.config
            if config.latency_ms:
                self.server.stopping.wait(config.latency_ms / 1000.0)
            fate = faults.draw()
            if fate == "timeout":
                self.server.stopping.wait(config.timeout_s)
            elif fate == "error":
                resp = Response(config.error_status, dumps({"errors": _phrase(config.error_status)}))
        if resp is None and self.headers.get("X-Shopify-Access-Token") != state.token:
            resp = ApiError(401, UNAUTHORIZED).response()
        if resp is None and faults.take_storm():
            resp = ApiError(429, THROTTLED, {"Retry-After": "2.0"}).response()
        if resp is None and not graphql:
            allowed, headers[CALL_LIMIT] = state.bucket.take()
            if not allowed:
                state.count("throttled_429")
                resp = ApiError(429, THROTTLED, {"Retry-After": "2.0"}).response()
        if resp is None:
            resp, template = self._route(state, method, path, query, raw)
        if not graphql:
            resp.headers.setdefault(CALL_LIMIT, headers.get(CALL_LIMIT) or state.bucket.peek())
        asked = API_PATH.match(path)
        if asked and asked.group(1):
            resp.headers.setdefault(VERSION, served_version(asked.group(1)))
        with state.lock:
            counters = state.counters
            counters["requests"] += 1
            counters["api_requests"] += 1
            counters[f"route {method} /admin/api/{{version}}/{template}"] += 1
            counters[f"status {resp.status}"] += 1
            counters["bytes_out"] += len(resp.body)
        if method != "GET" and not graphql:
            state.record_write(method, path, query, raw, resp.status)
        self._send(resp, truncate=fate == "truncate")

    def _route(self, state: ShopState, method: str, path: str, query: dict[str, str],
               raw: bytes) -> tuple[Response, str]:
        m = API_PATH.match(path)
        hit = ROUTER.match(method, m.group(2)) if m else None
        if hit is None:
            return not_found().response(), "unknown"
        handler, args, template = hit
        try:
            body = self._json_body(raw) if method != "GET" else None
            host = self.headers.get("Host")
            req = Request(method, path, query, self.headers, body, raw, f"http://{host}" if host else state.url)
            with state.lock:
                return handler(state, req, args), template
        except ApiError as exc:
            return exc.response(), template
        except Exception:  # a sandbox bug must not kill the connection thread silently
            traceback.print_exc(file=sys.stderr)
            state.count("internal_errors")
            return Response(500, dumps({"errors": "Internal Server Error"})), template

    def _send(self, resp: Response, truncate: bool = False) -> None:
        body = resp.body
        extra = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
        if self.close_connection or (self.headers.get("Connection", "").lower() == "close"):
            self.close_connection = True
            extra += "Connection: close\r\n"
        head = (f"HTTP/1.1 {resp.status} {_phrase(resp.status)}\r\nServer: {self.server_version}\r\n"
                f"Date: {self.date_time_string()}\r\nContent-Type: {resp.content_type}\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n").encode("latin-1")
        try:
            if truncate:
                self.wfile.write(head + body[: len(body) // 2])
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif len(body) < 65_536:
                self.wfile.write(head + body)
            else:
                self.wfile.write(head)
                self.wfile.write(body)
        except OSError:
            self.close_connection = True
