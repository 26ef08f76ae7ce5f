"""A store connector whose data is generated in memory and changed through a JSON file.

Registered as a real pluggy plugin (``register_connectors``). Its records look like
a small shop: products with variants, orders with a payment status. Tests change
the shop by writing ``<data_dir>/memstore-<integration>.json`` (see :func:`edit`),
which works across processes. Settings:

- ``products`` / ``orders``: how many to generate;
- ``page_size``: records per page;
- ``crash_after_page``: kill the process (SIGKILL) after yielding that page;
- ``fail_read``: raise a TransientError on the first read request.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from engine import Connector, Page, RemoteRejected, Resource, RunContext, TransientError, WriteOutcome, hookimpl

STATUSES = ("paid", "pending", "paid", "authorized", "paid", "refunded", "paid", "voided")


def state_file(data_dir: Path, integration: str) -> Path:
    """Where the shop's edits and received writes live."""
    return Path(data_dir) / f"memstore-{integration}.json"


def load_state(data_dir: Path, integration: str) -> dict[str, Any]:
    """The shop's edits and the writes it received."""
    f = state_file(data_dir, integration)
    return json.loads(f.read_text()) if f.exists() else {"seq": 0, "products": {}, "orders": {}, "writes": []}


def edit(data_dir: Path, integration: str, kind: str, record_id: int, **fields: Any) -> None:
    """Change a product or order (bumping its change sequence), as a shop admin would."""
    st = load_state(data_dir, integration)
    st["seq"] += 1
    st[kind].setdefault(str(record_id), {}).update(fields, seq=st["seq"])
    _save(data_dir, integration, st)


def _save(data_dir: Path, integration: str, st: dict[str, Any]) -> None:
    f = state_file(data_dir, integration)
    f.parent.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(st))
    os.replace(tmp, f)


class MemStore(Connector):
    """An in-memory shop: products (with variants), orders, stock levels."""

    name = "memstore"
    title = "In-memory test shop"
    feed_set = "memstore"
    resources = {
        "products": Resource("products", key="id", read=True, fetch=True),
        "orders": Resource("orders", key="id", read=True, fetch=True),
        "stock": Resource("stock", key="sku", read=True, fetch=True, write=True),
    }
    settings_schema = {
        "type": "object",
        "properties": {
            "products": {"type": "integer", "minimum": 0},
            "orders": {"type": "integer", "minimum": 0},
            "page_size": {"type": "integer", "minimum": 1},
            "crash_after_page": {"type": "integer"},
            "fail_read": {"type": "boolean"},
            "api_token": {"type": "string"},
            "reject_skus": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }

    def _state(self) -> dict[str, Any]:
        return load_state(self.services.data_dir, self.integration)

    def _records(self, resource: str) -> list[dict[str, Any]]:
        st = self._state()
        if resource == "products":
            out = []
            for i in range(1, int(self.settings.get("products", 10)) + 1):
                p = {"id": i, "title": f"Product {i}", "seq": 0,
                     "variants": [{"id": i * 10 + v, "sku": f"P{i}-{v}", "barcode": f"{i:06d}{v}",
                                   "grams": 100 * v, "qty": i + v} for v in range(1, 1 + (i % 3) + 1)]}
                p.update(st["products"].get(str(i), {}))
                out.append(p)
            return out
        if resource == "orders":
            out = []
            for i in range(1, int(self.settings.get("orders", 0)) + 1):
                o = {"id": i, "name": f"#{1000 + i}", "financial_status": STATUSES[i % len(STATUSES)],
                     "cancelled": False, "shipping": "Pigeon" if i % 11 == 0 else "Standard", "seq": 0,
                     "lines": [{"sku": f"P{i % 5 + 1}-1", "quantity": 1 + i % 2}]}
                o.update(st["orders"].get(str(i), {}))
                out.append(o)
            return out
        stock = {}
        for p in self._records("products"):
            for v in p["variants"]:
                stock[v["sku"]] = {"id": v["id"], "sku": v["sku"], "quantity": v["qty"], "seq": p["seq"]}
        for w in st["writes"]:
            stock[w["sku"]]["quantity"] = w["quantity"]
        return list(stock.values())

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        if self.settings.get("fail_read"):
            raise TransientError("store answered 503 Service Unavailable", status=503)
        since = (cursor or {}).get("seq", -1)
        after = (cursor or {}).get("after", 0)
        rows = sorted((r for r in self._records(resource) if (r["seq"], r["id"]) > (since, after)),
                      key=lambda r: (r["seq"], r["id"]))
        size = int(self.settings.get("page_size", 5))
        crash = self.settings.get("crash_after_page")
        for n, i in enumerate(range(0, len(rows), size), start=1):
            page = rows[i:i + size]
            last = page[-1]
            yield Page(records=page, cursor={"seq": last["seq"], "after": last["id"]}, total=len(rows))
            if crash is not None and n >= int(crash):
                os.kill(os.getpid(), signal.SIGKILL)

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        key = self.resources[resource].key
        wanted = set(keys)
        yield from (r for r in self._records(resource) if str(r[key]) in wanted)

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        st = self._state()
        out = []
        for r in records:
            if r["sku"] in self.settings.get("reject_skus", []):
                out.append(WriteOutcome(r["sku"], "error", error=RemoteRejected(
                    f"store refused {r['sku']}: quantity locked", status=422)))
                continue
            st["writes"].append({"sku": r["sku"], "quantity": r["quantity"]})
            out.append(WriteOutcome(r["sku"], "updated", remote_id=f"lvl-{r['sku']}"))
        _save(self.services.data_dir, self.integration, st)
        return out


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The test shop."""
    return [MemStore]
