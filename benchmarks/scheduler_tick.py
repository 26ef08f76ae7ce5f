"""How long the scheduler takes to find what is due among 1,000 integrations with 11 feeds each.

Builds the configuration in memory (no feed files to parse), a SQLite file with
the scheduling state of every feed (each ran once, some are running, some have
parked records), then times ``engine.due(now)``: first with a cold cron cache,
then the median of several warm calls, as ``serve`` makes them once per wake-up.

    python benchmarks/scheduler_tick.py [--integrations 1000] [--runs 15] [--database URL]

Prints timings only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from engine import Connector, Resource, hookimpl  # noqa: E402
from engine.app import Engine  # noqa: E402
from engine.config import EngineConfig, IntegrationDef  # noqa: E402
from engine.feeds import Endpoint, FeedDef  # noqa: E402
from engine.mapping import Compiler  # noqa: E402
from engine.plugins import Hooks, build_manager  # noqa: E402
from engine.store.models import FeedState, IntegrationState, Lock, Parked  # noqa: E402

NOW = datetime(2024, 5, 1, 10, 7, 30, tzinfo=UTC)

# name, direction, schedule, run_once: the shape of a real connector's standard feed set
FEEDS = [
    ("import_products", "inbound", "0 */2 * * *", False),
    ("update_products", "inbound", "*/30 * * * *", False),
    ("import_orders", "inbound", "*/5 * * * *", False),
    ("update_orders", "inbound", "*/15 * * * *", False),
    ("import_images", "inbound", "0 3 * * *", False),
    ("import_stock_levels", "inbound", "0 0 1 1 *", True),
    ("check_stock", "check", "30 2 * * *", False),
    ("export_stock_levels", "outbound", "*/10 * * * *", False),
    ("shipping_confirmation", "outbound", "*/5 * * * *", False),
    ("export_prices", "outbound", "0 * * * *", False),
    ("order_status", "outbound", "15 * * * *", False),
]


class BenchStore(Connector):
    """A connector that is never called: ``due`` only reads configuration and state."""

    name = "benchstore"
    resources = {"records": Resource("records", read=True, fetch=True, write=True)}


@hookimpl
def register_connectors() -> list[type[Connector]]:
    """The benchmark's connector."""
    return [BenchStore]


def build(url: str, integrations: int) -> Engine:
    """An engine with ``integrations`` x 11 feeds on ``url``, its tables created."""
    feeds = {name: FeedDef(name=name, direction=direction,  # type: ignore[arg-type]
                           source=Endpoint("store" if direction == "inbound" else "hub", "records"),
                           target=Endpoint("hub" if direction == "inbound" else "store", "records"),
                           schedule=schedule, run_once=once)
             for name, direction, schedule, once in FEEDS}
    config = EngineConfig(path=None, root=Path.cwd(), database_url=url, hub_connector="benchstore",
                          integrations={f"shop-{i:04d}": IntegrationDef(name=f"shop-{i:04d}", connector="benchstore",
                                                                        settings={}, feeds=feeds)
                                        for i in range(integrations)})
    hooks = Hooks(build_manager(plugins=[sys.modules[__name__]]))
    engine = Engine(config, hooks, Compiler(), clock=lambda: NOW, migrate=False)
    engine.create_all()
    return engine


def seed(engine: Engine) -> None:
    """Every feed ran once in the last hour; half the integrations are live; some running, some parked."""
    names = sorted(engine.config.integrations)
    states, parked, held = [], [], []
    for n, name in enumerate(names):
        for f, (feed, _, _, once) in enumerate(FEEDS):
            ran = NOW - timedelta(minutes=(n * 11 + f) % 60)
            states.append({"integration": name, "feed": feed, "last_started_at": ran, "last_finished_at": ran,
                           "last_status": "success", "last_success_at": ran, "last_scheduled_for": ran,
                           "once_done_at": ran if once else None})
        if n % 20 == 0:
            held.append({"integration": name, "feed": "import_orders", "holder": "bench:1:x", "execution_id": None,
                         "acquired_at": NOW, "lease_until": NOW + timedelta(seconds=60)})
        for k in range(2):
            due = NOW - timedelta(minutes=5) if (n + k) % 10 == 0 else NOW + timedelta(minutes=50)
            parked.append({"integration": name, "feed": "import_orders", "record_key": f"{n}-{k}",
                           "record_label": None, "reason": "awaiting payment", "attempts": 1,
                           "parked_at": NOW - timedelta(hours=1), "last_checked_at": NOW - timedelta(hours=1),
                           "next_check_at": due, "expires_at": NOW + timedelta(days=30)})
    modes = [{"name": name, "mode": "live" if i % 2 else "test", "changed_at": NOW} for i, name in enumerate(names)]
    with engine.sessions.begin() as s:
        for table, rows in ((FeedState, states), (Parked, parked), (Lock, held), (IntegrationState, modes)):
            s.execute(insert(table), rows)


def main(argv: list[str] | None = None) -> int:
    """Build, seed, time, print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--integrations", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--database", help="SQLAlchemy URL of an empty database (default: a fresh SQLite file)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = build(url, args.integrations)
        try:
            seed(engine)
            start = time.perf_counter()
            items = engine.due(NOW)
            cold = time.perf_counter() - start
            warm = []
            for _ in range(args.runs):
                start = time.perf_counter()
                engine.due(NOW)
                warm.append(time.perf_counter() - start)
        finally:
            engine.close()
    feeds = args.integrations * len(FEEDS)
    kinds = {k: sum(1 for i in items if i.kind == k) for k in ("feed", "parked")}
    print(f"scheduler due(now): {args.integrations} integrations x {len(FEEDS)} feeds = {feeds} feeds, "
          f"{engine.db.dialect.name}")
    print(f"  due now: {kinds['feed']} feed runs, {kinds['parked']} parked re-checks")
    print(f"  first call (cold cron cache): {cold * 1000:.1f} ms")
    print(f"  median of {args.runs} calls:      {statistics.median(warm) * 1000:.1f} ms "
          f"(min {min(warm) * 1000:.1f}, max {max(warm) * 1000:.1f}); "
          f"{statistics.median(warm) / feeds * 1e6:.2f} us per feed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
