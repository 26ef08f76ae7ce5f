"""engine.http: status classification, httpx error translation, retries (the only place MockTransport is used)."""

from __future__ import annotations

import email.utils
import http.server
import ssl
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from engine.errors import AuthError, ConnectorError, RemoteRejected, Severity, TransientError
from engine.http import (
    Retrier,
    SchemeTransport,
    classify,
    default_message,
    json_body,
    make_client,
    retry_after,
    translate,
)

BASE = "https://store.example"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return make_client(BASE, transport=httpx.MockTransport(handler), timeout=5.0)


def answer(status: int, *, method: str = "GET", **kwargs: object) -> httpx.Response:
    with client_for(lambda request: httpx.Response(status, **kwargs)) as client:  # type: ignore[arg-type]
        return client.request(method, "/things.json")


# -- make_client -----------------------------------------------------------------------------


def test_make_client_sets_explicit_timeout_limits_and_no_redirects() -> None:
    client = make_client(BASE, headers={"Accept": "application/json"}, timeout=12.5, max_connections=3)
    with client:
        assert client.timeout == httpx.Timeout(12.5, connect=10.0)
        assert client.headers["Accept"] == "application/json"
        assert client.follow_redirects is False
        assert str(client.base_url).rstrip("/") == BASE
        pool = client._transport._for("http")._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 3


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_never_builds_a_tls_context(plain_server: str) -> None:
    with make_client(plain_server) as client:
        transport = client._transport
        assert isinstance(transport, SchemeTransport)
        assert client.get("/x").json() == {"ok": True}
        assert set(transport._by_scheme) == {"http"}  # the https transport (CA bundle) was never made
        assert client.get("/y").status_code == 200
        assert len(transport._by_scheme) == 1  # one pool, reused


def test_https_gets_a_verified_transport_of_its_own() -> None:
    with make_client(BASE) as client:
        transport = client._transport
        assert isinstance(transport, SchemeTransport)
        tls = transport._for("https")._pool._ssl_context  # type: ignore[attr-defined]
        assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname
        assert transport._for("https") is transport._for("https")
    assert transport._by_scheme == {}  # closed with the client


def test_make_client_sends_auth_and_relative_paths() -> None:
    class Header(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request.headers["X-Key"] = "k"
            yield request

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    with make_client(BASE + "/shop", auth=Header(), transport=httpx.MockTransport(handler)) as client:
        client.get("/api/x.json", params={"a": "1"})
    assert seen[0].headers["X-Key"] == "k"
    assert str(seen[0].url) == BASE + "/shop/api/x.json?a=1"


# -- classify --------------------------------------------------------------------------------


def test_classify_passes_success() -> None:
    assert classify(answer(200, json={"ok": True}), write=False) is None
    assert classify(answer(201, json={}, method="POST"), write=True) is None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_classify_throttle_and_5xx_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as info:
        classify(answer(status, json={"errors": "slow down"}, headers={"Retry-After": "2.0"}), write=False)
    err = info.value
    assert err.severity is Severity.RETRY
    assert err.status == status
    assert err.retry_after == 2.0
    assert err.url == BASE + "/things.json"
    assert "slow down" in err.message and str(status) in err.message


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("write", [False, True])
def test_classify_auth_errors(status: int, write: bool) -> None:
    with pytest.raises(AuthError) as info:
        classify(answer(status, json={"errors": "[API] Invalid API key"}), write=write)
    assert info.value.status == status
    assert "[API] Invalid API key" in info.value.message
    assert info.value.severity is Severity.ERROR


def test_classify_4xx_on_write_is_rejected_with_the_store_text() -> None:
    with pytest.raises(RemoteRejected) as info:
        classify(answer(422, json={"errors": {"title": ["can't be blank"]}}, method="POST"), write=True)
    assert info.value.status == 422
    assert "can't be blank" in info.value.message
    assert "POST /things.json" in info.value.message


def test_classify_4xx_on_read_is_a_plain_connector_error() -> None:
    with pytest.raises(ConnectorError) as info:
        classify(answer(404, json={"errors": "Not Found"}), write=False)
    assert type(info.value) is ConnectorError
    assert info.value.status == 404
    assert "Not Found" in info.value.message


def test_classify_redirect_names_the_target() -> None:
    with pytest.raises(ConnectorError, match="redirects to https://other.example/x") as info:
        classify(answer(301, headers={"Location": "https://other.example/x"}), write=False)
    assert type(info.value) is ConnectorError


def test_classify_uses_the_plugin_message_extractor() -> None:
    with pytest.raises(RemoteRejected, match="custom: 7"):
        classify(answer(400, json={"code": 7}, method="PUT"), write=True,
                 message_from=lambda r: f"custom: {r.json()['code']}")


def test_default_message_shapes() -> None:
    assert default_message(answer(400, json={"message": "bad sku"})) == "bad sku"
    assert default_message(answer(400, json={"errors": ["a", "b"]})) == '["a","b"]'
    assert default_message(answer(500, text="<html>oops</html>")) == "<html>oops</html>"
    assert default_message(answer(500, text="x" * 600)).endswith("...")
    assert default_message(answer(502)) == "Bad Gateway"


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after(answer(429, headers={"Retry-After": "1.5"})) == 1.5
    when = datetime.now(UTC) + timedelta(seconds=30)
    got = retry_after(answer(429, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)}))
    assert got is not None and 25 <= got <= 31
    assert retry_after(answer(429, headers={"Retry-After": "soon"})) is None
    assert retry_after(answer(429)) is None


# -- translate -------------------------------------------------------------------------------


def raising(exc_type: type[httpx.HTTPError]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("boom", request=request)  # type: ignore[call-arg]

    return client_for(handler)


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.PoolTimeout,
                                      httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError,
                                      httpx.DecodingError])
def test_translate_transport_failures_are_transient(exc_type: type[httpx.HTTPError]) -> None:
    with raising(exc_type) as client, pytest.raises(TransientError) as info:
        try:
            client.get("/x.json")
        except httpx.HTTPError as exc:
            raise translate(exc) from exc
    assert isinstance(info.value.__cause__, exc_type)
    assert info.value.url == BASE + "/x.json"


def test_translate_truncated_body_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A declared length longer than the bytes sent: what a dropped connection looks like.
        return httpx.Response(200, headers={"Content-Length": "100"}, stream=_Short(b'{"a":'))

    with client_for(handler) as client, pytest.raises(TransientError) as info:
        try:
            client.get("/x.json")
        except httpx.HTTPError as exc:
            raise translate(exc) from exc
    assert isinstance(info.value.__cause__, httpx.HTTPError)


class _Short(httpx.SyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_translate_unsupported_scheme_is_not_transient() -> None:
    with make_client("ftp://store.example") as client, pytest.raises(ConnectorError) as info:
        try:
            client.get("/x")
        except httpx.HTTPError as exc:
            raise translate(exc) from exc
    assert not isinstance(info.value, TransientError)
    assert "http://" in info.value.message


def test_translate_status_error_is_classified() -> None:
    response = answer(503, json={"errors": "down"})
    with pytest.raises(httpx.HTTPStatusError) as info:
        response.raise_for_status()
    err = translate(info.value)
    assert isinstance(err, TransientError) and err.status == 503


def test_json_body_invalid_is_transient() -> None:
    assert json_body(answer(200, json={"a": 1})) == {"a": 1}
    assert json_body(answer(204)) == {}
    with pytest.raises(TransientError, match="not valid JSON"):
        json_body(answer(200, content=b'{"products":[{"id":1'))


# -- Retrier ---------------------------------------------------------------------------------


class Flaky:
    """Raises the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_retrier_retries_transient_errors_with_bounded_backoff() -> None:
    waits: list[float] = []
    retrier = Retrier(max_attempts=4, base=1.0, cap=3.0, sleep=waits.append, random=lambda: 0.999)
    fn = Flaky(TransientError("a"), TransientError("b"), TransientError("c"))
    assert retrier.call(fn) == "ok"
    assert fn.calls == 4
    assert [round(w, 2) for w in waits] == [1.0, 2.0, 3.0]


def test_retrier_jitter_stays_within_half_to_full_backoff() -> None:
    low = Retrier(base=2.0, random=lambda: 0.0)
    high = Retrier(base=2.0, random=lambda: 0.999999)
    assert low.backoff(2) == pytest.approx(2.0)
    assert high.backoff(2) == pytest.approx(4.0, rel=1e-5)


def test_retrier_gives_up_after_max_attempts_with_the_last_error() -> None:
    waits: list[float] = []
    fn = Flaky(*(TransientError(f"e{i}", status=500) for i in range(5)))
    with pytest.raises(TransientError, match="e2"):
        Retrier(max_attempts=3, sleep=waits.append).call(fn)
    assert fn.calls == 3 and len(waits) == 2


def test_retrier_honours_retry_after_and_does_not_count_throttling_as_failures() -> None:
    waits: list[float] = []
    throttled = [TransientError("429", status=429, retry_after=2.0) for _ in range(6)]
    fn = Flaky(*throttled, TransientError("500", status=500))
    assert Retrier(max_attempts=2, sleep=waits.append, random=lambda: 0.0).call(fn) == "ok"
    assert waits[:6] == [2.0] * 6
    assert fn.calls == 8


def test_retrier_total_wait_budget() -> None:
    waits: list[float] = []
    fn = Flaky(*(TransientError("429", status=429, retry_after=4.0) for _ in range(10)))
    with pytest.raises(TransientError, match="429"):
        Retrier(max_wait=10.0, sleep=waits.append).call(fn)
    assert waits == [4.0, 4.0]


def test_retrier_raises_other_errors_at_once() -> None:
    waits: list[float] = []
    fn = Flaky(AuthError("bad token", status=401))
    with pytest.raises(AuthError):
        Retrier(sleep=waits.append).call(fn)
    assert fn.calls == 1 and waits == []


def test_retrier_reports_each_retry() -> None:
    seen: list[tuple[str, float]] = []
    Retrier(sleep=lambda s: None, random=lambda: 0.0, base=1.0).call(
        Flaky(TransientError("x")), on_retry=lambda exc, wait: seen.append((exc.message, wait)))
    assert seen == [("x", 0.5)]


def test_retrier_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Retrier(max_attempts=0)


def test_http_module_names_no_store() -> None:
    import engine.http

    with open(engine.http.__file__, encoding="utf-8") as fh:
        text = fh.read().lower()
    for name in ("shopify", "magento", "prestashop"):
        assert name not in text
