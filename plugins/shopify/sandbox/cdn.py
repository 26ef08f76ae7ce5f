"""The sandbox's stand-in for Shopify's CDN: small, valid, deterministic PNG images."""

from __future__ import annotations

import re
import struct
import zlib
from functools import lru_cache

from .data import image_dims
from .state import ShopState
from .wire import Response, not_found

IMAGE_PATH = re.compile(r"^/cdn/shop/products/(\d+)-(\d+)\.png$")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@lru_cache(maxsize=512)
def png(pid: int, n: int) -> bytes:
    """Return the PNG of image ``n`` of product ``pid``: an RGB checkerboard of two seeded colours.

    Its size is :func:`~.data.image_dims` ``(pid, n)``, matching the image object's width/height.
    """
    width, height = image_dims(pid, n)
    h = (pid * 2_654_435_761 + n * 40_503) & 0xFFFFFF
    light = bytes(((h >> 16) | 0x80, ((h >> 8) & 0xFF) | 0x80, (h & 0xFF) | 0x80))
    dark = bytes(c // 3 for c in light)
    rows = []
    for y in range(height):
        row = b"".join(light if ((x // 8) + (y // 8)) % 2 == 0 else dark for x in range(width))
        rows.append(b"\x00" + row)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + _chunk(b"IEND", b""))


def serve_image(state: ShopState, path: str) -> Response:
    """Answer ``GET /cdn/shop/products/{product_id}-{n}.png`` (no auth, like a CDN)."""
    m = IMAGE_PATH.match(path)
    if not m:
        raise not_found()
    pid, n = int(m.group(1)), int(m.group(2))
    with state.lock:
        try:
            count = len(state.catalog.product(state.catalog.find(pid))["images"])
        except KeyError:
            raise not_found() from None
    if not 1 <= n <= count:
        raise not_found()
    return Response(200, png(pid, n), {"Cache-Control": "public, max-age=31536000"}, "image/png")
