"""Product images downloaded over real HTTP from a tiny local server: stored once, errors classified."""

from __future__ import annotations

import hashlib
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from engine.connector import RunContext
from engine.errors import RecordError, Severity, TransientError
from plugins.connect import images
from plugins.connect.models import Image


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0\0\0\0\0")) + chunk(
        b"IEND", b"")


PNG = _png()


class ImageServer:
    """Serves /a.png, /b.png (same bytes), /moved (302 to /a.png), /page.html, /missing.png (404),
    /broken.png (500), /slow.png (answers only once released)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()
        #: Extra answers a test sets: path -> (status, headers, body).
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.hits[self.path] += 1
                if self.path in server.routes:
                    status, headers, body = server.routes[self.path]
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif self.path in ("/a.png", "/b.png"):
                    self._send(200, "image/png", PNG)
                elif self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/a.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/page.html":
                    self._send(200, "text/html; charset=utf-8", b"<html>sign in</html>")
                elif self.path == "/broken.png":
                    self._send(500, "text/plain", b"boom")
                elif self.path == "/slow.png":
                    server.release.wait(timeout=30)
                    self._send(200, "image/png", PNG)
                else:
                    self._send(404, "text/plain", b"not found")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server() -> Iterator[ImageServer]:
    srv = ImageServer()
    srv.thread.start()
    yield srv
    srv.release.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_images_are_downloaded_once_into_the_data_folder(server: ImageServer, write: Any, sessions: Any,
                                                         data_dir: Path) -> None:
    out = write("product_images", [{"sku": "A-1", "url": server.url("/a.png"), "position": 1},
                                   {"sku": "A-2", "url": server.url("/a.png"), "position": 1}])
    assert [o.action for o in out] == ["created", "created"]
    assert server.hits["/a.png"] == 1  # the second SKU reuses the file

    with sessions() as s:
        rows = s.scalars(select(Image).order_by(Image.sku)).all()
    sha = hashlib.sha256(PNG).hexdigest()
    assert [(r.sha256, r.content_type, r.bytes) for r in rows] == [(sha, "image/png", len(PNG))] * 2
    assert rows[0].path == f"images/shop/{sha[:2]}/{sha}.png"
    assert (data_dir / rows[0].path).read_bytes() == PNG

    again = write("product_images", [{"sku": "A-1", "url": server.url("/a.png"), "position": 1},
                                     {"sku": "A-1", "url": server.url("/a.png"), "position": 2}])
    assert [o.action for o in again] == ["unchanged", "updated"]
    assert server.hits["/a.png"] == 1


def test_a_lost_file_is_downloaded_again(server: ImageServer, write: Any, data_dir: Path) -> None:
    write("product_images", [{"sku": "A-1", "url": server.url("/b.png"), "position": 1}])
    for f in (data_dir / "images").rglob("*.png"):
        f.unlink()
    assert [o.action for o in write("product_images", [{"sku": "A-1", "url": server.url("/b.png")}])] == ["updated"]
    assert server.hits["/b.png"] == 2


def test_redirects_are_followed(server: ImageServer, write: Any) -> None:
    out = write("product_images", [{"sku": "A-1", "url": server.url("/moved"), "position": 1}])
    assert [o.action for o in out] == ["created"]
    assert server.hits["/a.png"] == 1


def test_download_failures_are_classified(server: ImageServer, write: Any, sessions: Any) -> None:
    out = write("product_images", [{"sku": "A-1", "url": server.url("/missing.png")},
                                   {"sku": "A-1", "url": server.url("/broken.png")},
                                   {"sku": "A-1", "url": server.url("/page.html")},
                                   {"sku": "A-1", "url": "ftp://example.invalid/x.png"},
                                   {"sku": "A-1", "url": server.url("/a.png")}])

    assert [o.action for o in out] == ["error", "error", "error", "error", "created"]
    missing, broken, page, ftp = (o.error for o in out[:4])
    assert isinstance(missing, RecordError) and missing.severity == Severity.ERROR
    assert "HTTP 404" in str(missing) and missing.record == server.url("/missing.png")
    assert isinstance(broken, TransientError) and broken.severity == Severity.RETRY and broken.status == 500
    assert "text/html, not an image" in str(page)
    assert isinstance(ftp, RecordError)
    with sessions() as s:
        assert s.scalars(select(Image.url)).all() == [server.url("/a.png")]


def test_a_timeout_is_transient(server: ImageServer, tmp_path: Path) -> None:
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.2)) as client, pytest.raises(TransientError, match="timed"):
        images.download(client, server.url("/slow.png"), tmp_path, "shop")
    server.release.set()


def test_read_and_fetch_images(server: ImageServer, write: Any, read: Any, hub: Any) -> None:
    write("product_images", [{"sku": "A-1", "url": server.url("/a.png"), "position": 1}])
    (page,) = read("product_images")
    assert [(r["sku"], r["url"], r["position"], r["content_type"]) for r in page.records] == [
        ("A-1", server.url("/a.png"), 1, "image/png")]
    (found,) = hub.fetch("product_images", [server.url("/a.png")], ctx=RunContext(integration="shop"))
    assert found["sha256"] == hashlib.sha256(PNG).hexdigest()


@pytest.mark.parametrize(("answer", "message", "severity"), [
    ((302, {"Location": "/loop"}, b""), "redirects too many times", Severity.ERROR),
    ((200, {"Content-Type": "image/png", "Content-Encoding": "gzip"}, b"not gzip at all"), "undecodable",
     Severity.RETRY),
    ((200, {"Content-Type": "application/octet-stream"}, b"<html>login</html>"), "is not an image",
     Severity.ERROR),
    ((200, {}, b"<html>login</html>"), "is not an image", Severity.ERROR),
    ((200, {"Content-Type": "image/png"}, b"  <!doctype html><html>"), "is not an image", Severity.ERROR),
    ((200, {"Content-Type": "image/png"}, b""), "came back empty", Severity.ERROR),
    ((204, {}, b""), "came back empty", Severity.ERROR),
])
def test_what_is_not_an_image_fails_alone_and_leaves_nothing(server: ImageServer, write: Any, sessions: Any,
                                                             data_dir: Path, answer: Any, message: str,
                                                             severity: Severity) -> None:
    server.routes["/loop"] = answer
    bad, good = server.url("/loop"), server.url("/a.png")
    outcomes = write("product_images", [{"sku": "A-1", "url": bad}, {"sku": "A-1", "url": good}])
    assert [o.action for o in outcomes] == ["error", "created"]
    assert message in str(outcomes[0].error) and outcomes[0].error.severity == severity  # type: ignore[union-attr]
    with sessions() as s:
        assert s.scalars(select(Image.url)).all() == [good]
    assert list(data_dir.rglob(".download-*")) == []
    assert len([f for f in (data_dir / "images").rglob("*") if f.is_file()]) == 1


def test_formats_are_told_by_their_first_bytes(server: ImageServer, write: Any) -> None:
    bodies = {"/j": (b"\xff\xd8\xff\xe0" + b"0" * 20, "application/octet-stream"),
              "/g": (b"GIF89a" + b"0" * 20, ""), "/w": (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
              "/s": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")}
    for path, (body, kind) in bodies.items():
        server.routes[path] = (200, {"Content-Type": kind} if kind else {}, body)
    outcomes = write("product_images", [{"sku": "A-1", "url": server.url(p)} for p in bodies])
    assert [o.action for o in outcomes] == ["created"] * 4, [o.error for o in outcomes]
