"""A store and a hub for the operations tests (scheduler, locks, parked records, go-live), as a real plugin.

``opsstore`` plays the store: ``items`` generated from its settings and changed
through a JSON file (:func:`edit`, works across processes), and ``levels`` it
accepts writes of. ``opshub`` plays the hub: it keeps what it is sent in two
tables of the engine database, written through the page's transaction, and a
write log (``ops_writes``) that shows whether any record was written twice.

Store settings:

- ``items``: how many items (ids 1..N, ``sku`` S<id>, ``qty`` = id, ``status`` ok);
- ``page_size``: records per page;
- ``gate``: a named pipe; after yielding page ``gate_after`` the read prints
  ``GATE <integration> <page>`` to stderr and blocks until someone opens the pipe
  for writing (:func:`open_gate`). A missing pipe does not block;
- ``barrier``: name of a :data:`BARRIERS` entry every read waits on (in-process
  concurrency tests);
- ``fail_read`` / ``fail_fetch``: raise a TransientError (the store is down);
- ``can_write``: what the go-live credentials check reports; ``checks_raise``: it raises AuthError.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from engine import AuthError, Check, Connector, Page, Resource, RunContext, TransientError, WriteOutcome, hookimpl
from tests.support.statefile import save_state

if TYPE_CHECKING:
    from engine.app import Engine

BARRIERS: dict[str, threading.Barrier] = {}
_CREATE = threading.Lock()

META = MetaData()
HUB = Table("ops_hub", META, Column("integration", String(100), primary_key=True),
            Column("resource", String(50), primary_key=True), Column("key", String(100), primary_key=True),
            Column("data", JSON))
WRITES = Table("ops_writes", META, Column("id", Integer, primary_key=True, autoincrement=True),
               Column("integration", String(100)), Column("resource", String(50)), Column("key", String(100)))


# -- the store's state, shared between processes through a file -------------------------------


def state_file(data_dir: Path, integration: str) -> Path:
    """Where the store's edits and received writes live."""
    return Path(data_dir) / f"opsstore-{integration}.json"


def load_state(data_dir: Path, integration: str) -> dict[str, Any]:
    """The store's edits (by item id), removed ids and received level writes."""
    f = state_file(data_dir, integration)
    return json.loads(f.read_text()) if f.exists() else {"items": {}, "gone": [], "levels": []}


def edit(data_dir: Path, integration: str, item_id: int, **fields: Any) -> None:
    """Change an item as a shop admin would."""
    st = load_state(data_dir, integration)
    st["items"].setdefault(str(item_id), {}).update(fields)
    _save(data_dir, integration, st)


def remove(data_dir: Path, integration: str, item_id: int) -> None:
    """Delete an item from the store."""
    st = load_state(data_dir, integration)
    st["gone"].append(item_id)
    _save(data_dir, integration, st)


def _save(data_dir: Path, integration: str, st: dict[str, Any]) -> None:
    save_state(state_file(data_dir, integration), st)


def open_gate(path: Path) -> None:
    """Let a read blocked on the gate pipe go on (opening it for writing wakes the reader)."""
    fd = os.open(path, os.O_WRONLY)
    os.close(fd)


# -- the connectors --------------------------------------------------------------------------


class OpsStore(Connector):
    """The store of the operations tests."""

    name = "opsstore"
    feed_set = "opsstore"
    resources = {
        "items": Resource("items", key="id", read=True, fetch=True),
        "levels": Resource("levels", key="sku", read=False, fetch=True, write=True),
    }
    settings_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "items": {"type": "integer", "minimum": 0},
            "page_size": {"type": "integer", "minimum": 1},
            "gate": {"type": "string"},
            "gate_after": {"type": "integer", "minimum": 1},
            "barrier": {"type": "string"},
            "fail_read": {"type": "boolean"},
            "fail_fetch": {"type": "boolean"},
            "can_write": {"type": "boolean"},
            "checks_raise": {"type": "boolean"},
            "checks_tuples": {"type": "boolean"},
        },
    }

    def _items(self) -> list[dict[str, Any]]:
        st = load_state(self.services.data_dir, self.integration)
        out = []
        for i in range(1, int(self.settings.get("items", 10)) + 1):
            if i in st["gone"]:
                continue
            item = {"id": i, "sku": f"S{i}", "qty": i, "status": "ok"}
            item.update(st["items"].get(str(i), {}))
            out.append(item)
        return out

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        if self.settings.get("fail_read"):
            raise TransientError("store answered 503 Service Unavailable", status=503)
        barrier = self.settings.get("barrier")
        if barrier:
            BARRIERS[barrier].wait()
        after = (cursor or {}).get("after", 0)
        rows = [r for r in self._items() if r["id"] > after]
        size = int(self.settings.get("page_size", 5))
        gate, gate_after = self.settings.get("gate"), int(self.settings.get("gate_after", 1))
        for n, i in enumerate(range(0, len(rows), size), start=1):
            page = rows[i:i + size]
            yield Page(records=page, cursor={"after": page[-1]["id"]}, total=len(rows))
            if gate and n == gate_after and Path(gate).exists():
                print(f"GATE {self.integration} {n}", file=sys.stderr, flush=True)
                with open(gate) as pipe:  # blocks until the test opens the pipe for writing
                    pipe.read()

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        if self.settings.get("fail_fetch"):
            raise TransientError("store answered 503 Service Unavailable", status=503)
        wanted = set(keys)
        if resource == "levels":
            levels = {lv["sku"]: lv for lv in load_state(self.services.data_dir, self.integration)["levels"]}
            yield from (lv for sku, lv in levels.items() if sku in wanted)
            return
        yield from (r for r in self._items() if str(r["id"]) in wanted)

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        st = load_state(self.services.data_dir, self.integration)
        st["levels"].extend({"sku": r["sku"], "qty": r.get("qty")} for r in records)
        _save(self.services.data_dir, self.integration, st)
        return [WriteOutcome(str(r["sku"]), "updated", remote_id=f"lvl-{r['sku']}") for r in records]

    def checks(self, ctx: RunContext) -> list[Check]:
        if self.settings.get("checks_raise"):
            raise AuthError("store answered 401 Unauthorized: invalid API key", status=401)
        if self.settings.get("checks_tuples"):  # a plugin's mistake: tuples instead of engine.Check
            return [("credentials can write", True, "")]  # type: ignore[list-item]
        ok = bool(self.settings.get("can_write", True))
        return [Check("credentials can write", ok, "write scope granted" if ok else "the API key is read-only")]


class OpsHub(Connector):
    """The hub of the operations tests: items and stock in the engine database."""

    name = "opshub"
    resources = {
        "items": Resource("items", key="id", read=True, fetch=True, write=True),
        "stock": Resource("stock", key="sku", read=True, fetch=True, write=True),
    }
    settings_schema = {"type": "object", "additionalProperties": False, "properties": {}}

    def open(self) -> None:
        with _CREATE:
            try:
                with self.services.sessions.begin() as s:
                    META.create_all(s.connection(), checkfirst=True)
            except DBAPIError:  # another process created them at the same moment
                pass

    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Page]:
        with self.services.sessions() as s:
            rows = [r for (r,) in s.execute(select(HUB.c.data).where(HUB.c.integration == self.integration,
                                                                     HUB.c.resource == resource)
                                            .order_by(HUB.c.key))]
        yield Page(records=rows)

    def fetch(self, resource: str, keys: Sequence[str], *, ctx: RunContext) -> Iterator[dict[str, Any]]:
        with self.services.sessions() as s:
            rows = [r for (r,) in s.execute(select(HUB.c.data).where(HUB.c.integration == self.integration,
                                                                     HUB.c.resource == resource,
                                                                     HUB.c.key.in_(list(keys))))]
        yield from rows

    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Sequence[WriteOutcome]:
        assert ctx.session is not None, "the runner hands hub writes its transaction"
        s, key, integ = ctx.session, self.resources[resource].key, self.integration
        out = []
        for r in records:
            k = str(r[key])
            s.execute(insert(WRITES).values(integration=integ, resource=resource, key=k))
            row = (HUB.c.integration == integ) & (HUB.c.resource == resource) & (HUB.c.key == k)
            old = s.execute(select(HUB.c.data).where(row)).scalar()
            if old is None:
                s.execute(insert(HUB).values(integration=integ, resource=resource, key=k, data=dict(r)))
                out.append(WriteOutcome(k, "created"))
            elif old == dict(r):
                out.append(WriteOutcome(k, "unchanged"))
            else:
                s.execute(update(HUB).where(row).values(data=dict(r)))
                out.append(WriteOutcome(k, "updated"))
        return out


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The operations test store and hub."""
    return [OpsStore, OpsHub]


# -- helpers for tests -------------------------------------------------------------------------


def write_counts(sessions: Any, integration: str = "shop", resource: str = "items") -> dict[str, int]:
    """How many times the hub was sent each key of ``resource`` for ``integration``."""
    with sessions() as s:
        return {k: n for k, n in s.execute(select(WRITES.c.key, func.count()).where(
            WRITES.c.integration == integration, WRITES.c.resource == resource).group_by(WRITES.c.key))}


def hub_rows(sessions: Any, integration: str = "shop", resource: str = "items") -> dict[str, dict[str, Any]]:
    """What the hub holds of ``resource`` for ``integration``, by key."""
    with sessions() as s:
        return {k: d for k, d in s.execute(select(HUB.c.key, HUB.c.data).where(
            HUB.c.integration == integration, HUB.c.resource == resource))}


FEEDS: dict[str, dict[str, Any]] = {
    "import_items": {
        "name": "import_items", "direction": "inbound", "description": "Items into the hub",
        "source": {"side": "store", "resource": "items"}, "target": {"side": "hub", "resource": "items"},
        "schedule": "*/15 * * * *", "label": "sku",
        "rules": [
            {"name": "pending", "when": "record.status == 'pending'", "severity": "retry",
             "message": "item {record.sku} is pending"},
            {"name": "broken", "when": "record.status == 'broken'", "severity": "error",
             "message": "item {record.sku} is broken in the store", "hint": "Repair the item in the store."},
        ],
        "retry": {"schedule": "0 * * * *", "expire_after": "2d", "max_attempts": 3},
    },
    "import_levels": {
        "name": "import_levels", "direction": "inbound", "description": "First stock import",
        "source": {"side": "store", "resource": "items"}, "target": {"side": "hub", "resource": "stock"},
        "schedule": "0 0 1 1 *", "run_once": True, "key": "sku", "incremental": False,
    },
    "check_stock": {
        "name": "check_stock", "direction": "check", "description": "Store and hub agree on stock",
        "source": {"side": "store", "resource": "items"}, "target": {"side": "hub", "resource": "stock"},
        "schedule": "0 3 * * *", "compare": ["qty"], "incremental": False,
    },
    "export_levels": {
        "name": "export_levels", "direction": "outbound", "description": "Hub stock to the store",
        "source": {"side": "hub", "resource": "stock"}, "target": {"side": "store", "resource": "levels"},
        "schedule": "*/30 * * * *", "incremental": False,
    },
}


def write_config(root: Path, db_url: str, integrations: Mapping[str, Mapping[str, Any]], *,
                 feeds: Mapping[str, Mapping[str, Any]] | None = None, **engine: Any) -> Path:
    """Write feed files and engine.yaml under ``root``; returns engine.yaml's path.

    ``integrations`` maps a name to its ``settings`` plus optional ``mode`` and
    ``feeds`` (overrides); every integration uses the ``opsstore`` connector.
    """
    folder = root / "feeds.d" / "opsstore"
    folder.mkdir(parents=True, exist_ok=True)
    (root / "mappings").mkdir(exist_ok=True)
    for name, feed in (FEEDS if feeds is None else feeds).items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(dict(feed), sort_keys=False))
    doc: dict[str, Any] = {
        "database": db_url, "data_dir": str(root / "data"), "feeds_dir": str(root / "feeds.d"),
        "mappings_dir": str(root / "mappings"), "hub": {"connector": "opshub"},
        "integrations": {name: {"connector": "opsstore", **dict(spec)} for name, spec in integrations.items()},
        **engine,
    }
    path = root / "engine.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Clock:
    """An injectable clock: tz-aware UTC, moved only by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


def make_engine(root: Path, db_url: str, integrations: Mapping[str, Mapping[str, Any]], clock: Clock, *,
                plugins: Sequence[object] = (), **config: Any) -> Engine:
    """Write the configuration under ``root`` and build an engine on it with the ops plugin (and ``plugins``)."""
    from engine.app import Engine

    path = write_config(root, db_url, integrations, **config)
    return Engine.from_config(path, plugins=[sys.modules[__name__], *plugins], clock=clock)
