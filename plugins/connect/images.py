"""Product images: download each URL once into the engine's data folder and record what was stored.

Files live at ``<data_dir>/images/<integration>/<sha256[:2]>/<sha256><ext>``; the
row keeps that path relative to ``data_dir``. An HTTP 4xx fails the record
(``error``: a person must fix the URL); 429, 5xx, timeouts and network failures
are :class:`~engine.errors.TransientError` (``retry``).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.connector import WriteOutcome
from engine.errors import EngineError, RecordError, Severity, TransientError
from engine.store.db import connection_of
from engine.store.upsert import upsert
from plugins.connect import coerce, tables
from plugins.connect.bulk import CHUNK, failed, key_in

if TYPE_CHECKING:  # httpx loads with the first download: a run that writes no image never needs it
    import httpx

    from engine.connector import Action, RunContext
    from engine.store.db import Tx

MAX_BYTES = 50 * 1024 * 1024
_COLUMNS = ("integration", "position", "path", "sha256", "content_type", "bytes", "downloaded_at", "updated_at")


def make_client(transport: Any = None) -> httpx.Client:
    """The HTTP client image downloads use: explicit timeouts, redirects followed."""
    import httpx

    return httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True, transport=transport,
                        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
                        headers={"User-Agent": "connect-engine image fetcher"})


def download(client: httpx.Client, url: str, data_dir: Path, integration: str) -> dict[str, Any]:
    """Download ``url`` into the data folder; returns ``{path, sha256, content_type, bytes}``.

    Raises:
        RecordError: A 4xx, a body that is not an image, or one larger than 50 MiB.
        TransientError: A 429 or 5xx, a timeout or a network failure.
    """
    import httpx

    folder = data_dir / "images" / _safe(integration)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with client.stream("GET", url) as response:
            _check(response, url)
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type and not (content_type.startswith("image/") or content_type == "application/octet-stream"):
                raise RecordError(f"image {url} is {content_type}, not an image", field="url",
                                  severity=Severity.ERROR)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
            try:
                head = b""
                with os.fdopen(fd, "wb") as out:
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > MAX_BYTES:
                            raise RecordError(f"image {url} is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                                              field="url")
                        if len(head) < _SNIFF:
                            head += chunk[:_SNIFF - len(head)]
                        digest.update(chunk)
                        out.write(chunk)
                _check_body(head, content_type, url)
                sha = digest.hexdigest()
                ext = mimetypes.guess_extension(content_type) if content_type else None
                ext = ext or Path(httpx.URL(url).path).suffix[:10] or ".bin"
                target = folder / sha[:2] / f"{sha}{ext}"
                target.parent.mkdir(exist_ok=True)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
    except httpx.TimeoutException as exc:
        raise TransientError(f"timed out downloading image {url}: {exc}", url=url) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise RecordError(f"image URL {url!r} cannot be downloaded: {exc}", field="url") from exc
    except httpx.TooManyRedirects as exc:
        raise RecordError(f"image URL {url!r} redirects too many times (a loop?): {exc}", field="url") from exc
    except httpx.DecodingError as exc:  # a compressed body cut or garbled on the way: try again later
        raise TransientError(f"image {url} came back undecodable: {exc}", url=url) from exc
    except httpx.TransportError as exc:
        raise TransientError(f"network failure downloading image {url}: {exc}", url=url) from exc
    return {"path": target.relative_to(data_dir).as_posix(), "sha256": sha,
            "content_type": content_type or None, "bytes": size}


_SNIFF = 64  # leading bytes looked at to tell an image from a page
#: How image files begin (PNG, JPEG, GIF, WebP, BMP, TIFF, ICO, AVIF/HEIC, JPEG XL).
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
               b"\x00\x00\x01\x00", b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")


def _check_body(head: bytes, content_type: str, url: str) -> None:
    """Refuse an empty body, and one that is not an image whatever its Content-Type says (a login page)."""
    if not head:
        raise RecordError(f"image {url} came back empty", field="url", severity=Severity.ERROR)
    if head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[4:8] == b"ftyp":
        return
    text = head.lstrip().lower()
    if content_type == "image/svg+xml" and text.startswith((b"<svg", b"<?xml", b"<!--")):
        return
    if content_type.startswith("image/") and not text.startswith((b"<", b"{")):
        return  # a format this list does not know, said to be an image and not looking like markup: trusted
    shown = head[:24].decode("latin-1").encode("unicode_escape").decode("ascii")
    raise RecordError(f"image {url} is not an image (it begins {shown!r})", field="url", severity=Severity.ERROR)


def _check(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        after = response.headers.get("retry-after")
        raise TransientError(f"image {url} answered HTTP {status} {response.reason_phrase}; will retry",
                             status=status, url=url,
                             retry_after=float(after) if after and after.isdigit() else None)
    raise RecordError(f"image {url} could not be downloaded: HTTP {status} {response.reason_phrase}",
                      field="url", status=status, url=url)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def write_images(session: Tx, records: Sequence[dict[str, Any]], ctx: RunContext, now: datetime, *,
                 client: httpx.Client, data_dir: Path) -> list[WriteOutcome]:
    """Record ``{sku, url, position}`` images, downloading each URL the hub has no file of yet."""
    outcomes: list[WriteOutcome] = []
    parsed: list[tuple[str, str, int | None] | EngineError] = []
    for record in records:
        try:
            parsed.append((coerce.key(record.get("sku"), "sku"), coerce.key(record.get("url"), "url", 2000),
                           coerce.integer(record.get("position"), "position")))
        except RecordError as exc:
            parsed.append(exc)
    urls = list({p[1] for p in parsed if isinstance(p, tuple)})
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    files: dict[str, dict[str, Any]] = {}  # url -> a row whose file is on disk
    table = tables.images
    for start in range(0, len(urls), CHUNK):
        query = select(table).where(key_in(table.c.url, connection_of(session).dialect.name, urls[start:start + CHUNK]))
        for row in session.execute(query).mappings():
            stored[(row["sku"], row["url"])] = dict(row)
            if row["path"] and (data_dir / row["path"]).is_file():
                files[row["url"]] = dict(row)
    writes: dict[tuple[str, str], dict[str, Any]] = {}
    for record, item in zip(records, parsed, strict=True):
        if isinstance(item, EngineError):
            outcomes.append(failed(str(record.get("url") or ""), item))
            continue
        sku, url, position = item
        try:
            action = _apply(stored, files, writes, ctx, now, sku, url, position,
                            lambda u: download(client, u, data_dir, ctx.integration))
        except EngineError as exc:
            outcomes.append(failed(url, exc))
            continue
        outcomes.append(WriteOutcome(key=url, action=action))
    if writes:
        upsert(session, table, list(writes.values()), key=("sku", "url"), update=_COLUMNS)
    return outcomes


def _apply(stored: dict[tuple[str, str], dict[str, Any]], files: dict[str, dict[str, Any]],
           writes: dict[tuple[str, str], dict[str, Any]], ctx: RunContext, now: datetime, sku: str, url: str,
           position: int | None, fetch: Any) -> Action:
    row = stored.get((sku, url))
    have_file = url in files
    action: Action
    if row is None and ctx.write_mode == "update":
        raise RecordError(f"image {url} of {sku!r} is not in the hub yet", severity=Severity.INFO)
    if row is not None and ctx.write_mode == "create":
        return "unchanged"
    if row is not None and have_file and row["path"] == files[url]["path"]:
        if position is None or position == row["position"] or (ctx.fields and "position" not in ctx.fields):
            return "unchanged"
        new = {**row, "position": position, "updated_at": now}
        action = "updated"
    else:
        source = files[url] if have_file else {**fetch(url), "downloaded_at": now}
        base = row or {"sku": sku, "url": url, "integration": ctx.integration, "position": position}
        new = {**base, "path": source["path"], "sha256": source["sha256"], "content_type": source["content_type"],
               "bytes": source["bytes"], "downloaded_at": source["downloaded_at"], "updated_at": now}
        if position is not None:
            new["position"] = position
        files[url] = new
        action = "created" if row is None else "updated"
    new = {k: new[k] for k in ("sku", "url", *_COLUMNS)}
    stored[(sku, url)] = writes[(sku, url)] = new
    return action
