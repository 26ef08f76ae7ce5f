"""A store connector whose data is generated in memory and changed through a JSON file.

Registered as a real pluggy plugin (``register_connectors``). Its records look like
a small shop: products with variants, orders with a payment status. Tests change
the shop by writing ``<data_dir>/memstore-<integration>.json`` (see :func:`edit`),
which works across processes. Its standard feeds are ``tests/support/feeds.d/memstore``
(mappings in ``tests/support/mappings/memstore``); :func:`config` builds an
engine configuration on them. Settings:

- ``products`` / ``orders``: how many to generate;
- ``page_size``: records per page;
- ``crash_after_page``: kill the run's process (SIGKILL) when the runner asks for the page
  after that one, i.e. once that page is committed (with read-ahead, the reader asks
  one page earlier: the page before it is committed, that one may be); ``pid_file``: a
  file in the data folder where the reading process writes its pid just before;
- ``terminate_group_at_page``: SIGTERM the whole process group after yielding page ``n``
  (what a service manager does to stop a run);
- ``fail_read``: raise a TransientError on the first read request (``true``) or when
  page ``n`` is asked for (an integer);
- ``read_bug``: the same with a plain RuntimeError (a connector bug, not an EngineError);
- ``reject_skus``: stock writes of these SKUs are refused (``RemoteRejected``);
- ``api_token``: the store's credential (write it as ``${ENV_VAR}``);
- ``echo_token``: misbehave like a careless store: log the token and put it in
  every error message (the engine must mask it everywhere).

Test hooks, per process: :data:`CALLS` records every instantiation, page request
and write (a spy), and every function in :data:`PAGE_HOOKS` is called with
``(integration, resource, n)`` when the runner asks for page ``n``, before the
page is built. ``python -m tests.support.memstore --config PATH ARGS...`` is the
``connect-engine`` command line with this plugin and the hub (see :func:`main`).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import (
    Connector,
    Page,
    RemoteRejected,
    Resource,
    RunContext,
    Services,
    TransientError,
    WriteOutcome,
    hookimpl,
    readahead,
)
from tests.support.statefile import save_state

if TYPE_CHECKING:
    from datetime import datetime

    from engine.app import Engine

SUPPORT = Path(__file__).resolve().parent
CALLS: list[tuple[Any, ...]] = []
PAGE_HOOKS: list[Callable[[str, str, int], None]] = []
log = logging.getLogger(__name__)

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
    save_state(state_file(data_dir, integration), st)


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
            "pid_file": {"type": "string"},
            "terminate_group_at_page": {"type": "integer"},
            "fail_read": {"type": ["boolean", "integer"]},
            "read_bug": {"type": ["boolean", "integer"]},
            "api_token": {"type": "string"},
            "echo_token": {"type": "boolean"},
            "reject_skus": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }

    def __init__(self, integration: str, settings: Mapping[str, Any], services: Services) -> None:
        super().__init__(integration, settings, services)
        CALLS.append(("init", integration))

    def _leak(self) -> str:
        """What a careless store adds to its messages: its own credential."""
        return f" (sent with token {self.settings.get('api_token')})" if self.settings.get("echo_token") else ""

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
        if self.settings.get("echo_token"):
            (ctx.log or log).warning("memstore %s reads %s with token %s", self.integration, resource,
                                     self.settings.get("api_token"))
        fail_at, bug_at = _page_number(self.settings.get("fail_read")), _page_number(self.settings.get("read_bug"))
        since = (cursor or {}).get("seq", -1)
        after = (cursor or {}).get("after", 0)
        rows = sorted((r for r in self._records(resource) if (r["seq"], r["id"]) > (since, after)),
                      key=lambda r: (r["seq"], r["id"]))
        size = int(self.settings.get("page_size", 5))
        crash = self.settings.get("crash_after_page")
        for n, i in enumerate(range(0, len(rows) or 1, size), start=1):
            if n == fail_at:
                raise TransientError("store answered 503 Service Unavailable" + self._leak(), status=503)
            if n == bug_at:
                raise RuntimeError("memstore tripped over its own feet" + self._leak())
            if not rows:
                return
            CALLS.append(("page", self.integration, resource, n))
            for hook in PAGE_HOOKS:
                hook(self.integration, resource, n)
            page = rows[i:i + size]
            last = page[-1]
            yield Page(records=page, cursor={"seq": last["seq"], "after": last["id"]}, total=len(rows))
            if n == self.settings.get("terminate_group_at_page"):  # a service manager stopping the run
                os.killpg(os.getpgrp(), signal.SIGTERM)
            if crash is not None and n == int(crash):  # the run's process dies, whichever process reads
                if self.settings.get("pid_file"):
                    self.services.data_dir.mkdir(parents=True, exist_ok=True)
                    (self.services.data_dir / self.settings["pid_file"]).write_text(str(os.getpid()))
                # A reader kills the run and reads on, as if the run had died on its own: it must die with it.
                os.kill(os.getppid() if readahead.in_reader() else os.getpid(), signal.SIGKILL)

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        key = self.resources[resource].key
        wanted = set(keys)
        yield from (r for r in self._records(resource) if str(r[key]) in wanted)

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        CALLS.append(("write", self.integration, resource, len(records)))
        st = self._state()
        out = []
        for r in records:
            if r["sku"] in self.settings.get("reject_skus", []):
                out.append(WriteOutcome(r["sku"], "error", error=RemoteRejected(
                    f"store refused {r['sku']}: quantity locked{self._leak()}", status=422)))
                continue
            st["writes"].append({"sku": r["sku"], "quantity": r["quantity"]})
            out.append(WriteOutcome(r["sku"], "updated", remote_id=f"lvl-{r['sku']}"))
        _save(self.services.data_dir, self.integration, st)
        return out


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The test shop."""
    return [MemStore]


# -- building engines on the memstore feed set ---------------------------------------------------


def config(db_url: str, data_dir: Path, integrations: Mapping[str, Mapping[str, Any]],
           **engine: Any) -> dict[str, Any]:
    """An engine.yaml dict: the memstore feed set of tests/support, the real hub, these integrations.

    ``integrations`` maps a name to its ``settings`` plus optional ``mode``, ``maps``
    and ``feeds`` overrides; every integration uses the ``memstore`` connector.
    """
    return {
        "root": str(SUPPORT), "database": db_url, "data_dir": str(data_dir), "feeds_dir": "feeds.d",
        "mappings_dir": "mappings",
        "integrations": {name: {"connector": "memstore", **dict(spec)} for name, spec in integrations.items()},
        **engine,
    }


def write_config(path: Path, db_url: str, data_dir: Path, integrations: Mapping[str, Mapping[str, Any]],
                 **engine: Any) -> Path:
    """Write :func:`config` as an engine.yaml file at ``path`` (folders made absolute); returns ``path``."""
    doc = config(db_url, data_dir, integrations, **engine)
    root = Path(doc.pop("root"))
    doc.update(feeds_dir=str(root / "feeds.d"), mappings_dir=str(root / "mappings"))
    path.write_text(json.dumps(doc, indent=2))
    return path


def build(source: Mapping[str, Any] | Path, *, clock: Callable[[], datetime] | None = None,
          env: Mapping[str, str] | None = None, extra: Sequence[object] = ()) -> Engine:
    """``Engine.from_config`` with exactly the memstore plugin, the hub plugin and the ``extra`` plugins."""
    from engine.app import Engine

    return Engine.from_config(source, plugins=plugin_list(*extra), clock=clock, env=env)


def plugin_list(*extra: object) -> list[object]:
    """The plugins a memstore engine registers: memstore, the real hub, then ``extra``."""
    from plugins import connect

    return [sys.modules[__name__], connect, *extra]


def _page_number(setting: Any) -> int | None:
    """``fail_read`` / ``read_bug``: ``true`` is the first page, a number that page, false or absent none."""
    if setting is True:
        return 1
    return int(setting) if setting else None


def main(argv: list[str]) -> None:
    """The ``connect-engine`` command line with exactly the memstore and hub plugins registered."""
    from engine.cli import cli

    cli.main(argv, prog_name="connect-engine", obj={"plugins": plugin_list()})


if __name__ == "__main__":
    from tests.support.memstore import main as _main  # the plugin module, not this ``__main__`` copy of it

    _main(sys.argv[1:])
