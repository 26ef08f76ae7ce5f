"""The embedding API: :class:`Engine`, built once from a configuration, used by the CLI and host services."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from engine import parts
from engine.config import EngineConfig, IntegrationDef
from engine.connector import Connector, Services
from engine.errors import ConfigError, EngineError
from engine.feeds import FeedDef
from engine.mapping import Compiler
from engine.parts import utcnow
from engine.plugins import Hooks
from engine.runner import Progress, Runner
from engine.secrets import Masker, install_log_filter, remove_log_filter
from engine.store import journal, modes
from engine.store.db import Transactions, discard, make_db
from engine.store.records import ExecutionInfo, NotificationInfo
from engine.store.tables import events as event_rows
from engine.store.tables import executions as execution_rows
from engine.store.tables import metadata
from engine.store.tables import notifications as notification_rows

if TYPE_CHECKING:
    from engine.connector import Check
    from engine.golive import ModeChangeInfo, ModeReport
    from engine.parked import ParkedInfo
    from engine.readahead import Early
    from engine.scheduler import Scheduler, TickResult, WorkItem
    from engine.spawnread import Origin

log = logging.getLogger(__name__)


def _ensure_folders(config: EngineConfig) -> None:
    """Create the data folder and a SQLite file's folder (the embedded default lives in ./var)."""
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    url = config.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):].split("?")[0]).parent.mkdir(parents=True, exist_ok=True)


class Engine:
    """A configured engine: integrations, feeds, plugins and the database.

    Build it with :meth:`from_config`; close it with :meth:`close` (or use it as
    a context manager).
    """

    def __init__(self, config: EngineConfig, hooks: Hooks, compiler: Compiler, *,
                 clock: Callable[[], datetime] = utcnow, migrate: bool = True) -> None:
        self.config = config
        self.hooks = hooks
        self.compiler = compiler
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.connectors: dict[str, type[Connector]] = hooks.connectors()
        self.masker = Masker(config.secrets)
        self._log_filter = install_log_filter(self.masker)
        _ensure_folders(config)
        self.db, self.sessions = make_db(config.database_url, runs=config.pool_size)  # ORM, made on first use
        self.transactions = Transactions(self.db)  # Core connections: what the engine itself uses
        self._models_loaded = hooks.pm.hook.register_models()
        if migrate:
            self.upgrade()
        self.runner = Runner(self)
        #: engine.yaml and the files it read, when a reader process can load them again (engine.spawnread).
        self.origin: Origin | None = None
        self._services = Services(sessions=self.sessions, clock=self.clock, data_dir=Path(config.data_dir),
                                  transactions=self.transactions)

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], *, plugins: Sequence[object] | None = None,
                    env: Mapping[str, str] | None = None, clock: Callable[[], datetime] | None = None,
                    migrate: bool = True) -> Engine:
        """Load and validate a configuration (a file path or an engine.yaml dict) and build the engine.

        Args:
            source: Path of engine.yaml, or the same content as a dict.
            plugins: Register exactly these plugins instead of the ``connect_engine`` entry points.
            env: Environment for ``${ENV_VAR}`` (default: ``os.environ``).
            clock: Returns the current tz-aware time (tests inject one).
            migrate: Bring the database schema up to date first.

        Raises:
            ConfigValidationError: Every problem found in the configuration.
            PluginError: A plugin failed to load.
        """
        hooks, compiler, config = parts.load(source, plugins=plugins, env=env)
        engine = cls(config, hooks, compiler, clock=clock or utcnow, migrate=migrate)
        if isinstance(source, (str, Path)) and plugins is None and env is None and clock is None:
            from engine.spawnread import Origin

            engine.origin = Origin.of(str(source))  # a reader can build this engine's feeds again by itself
        return engine

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections and this engine's log masking filter (once: closing again is a no-op)."""
        discard(self.db)
        if self._log_filter is not None:  # the filter is shared by engines with the same secrets, counted per engine
            remove_log_filter(self._log_filter)
            self._log_filter = None

    # -- schema -----------------------------------------------------------------------------------

    def upgrade(self) -> list[str]:
        """Bring the database schema to the newest revision of every registered migration folder.

        A database without any table is built from the models and stamped at the heads
        (``docs/decisions.md``, "A new database is built from the models"); the rest is Alembic's.

        Returns:
            The revisions applied (a new database: every revision of the scripts).
        """
        from engine.store import schema_state

        version_folders = schema_state.folders(self.hooks)
        if schema_state.is_current(self.db, version_folders):
            return []
        modules = [m.__name__ if isinstance(m, ModuleType) else str(getattr(m, "__module__", ""))
                   for result in self._models_loaded for m in result or ()]
        created = schema_state.create_new(self.db, version_folders, [m for m in modules if m])
        if created is not None:
            return created
        from engine.store import migrate  # Alembic is imported only when there is work for it

        return migrate.upgrade(self.db, version_folders)

    def create_all(self) -> None:
        """Create missing tables straight from the models (tests and throwaway databases)."""
        metadata.create_all(self.db)

    # -- configuration lookups ----------------------------------------------------------------------

    def integration(self, name: str) -> IntegrationDef:
        """The integration called ``name``; unknown names list the known ones."""
        try:
            return self.config.integrations[name]
        except KeyError:
            known = ", ".join(sorted(self.config.integrations)) or "none"
            raise ConfigError(f"unknown integration {name!r}; known: {known}") from None

    def feed(self, integration: str, name: str) -> FeedDef:
        """The feed ``name`` of an integration; unknown names list the known ones."""
        integ = self.integration(integration)
        try:
            return integ.feeds[name]
        except KeyError:
            known = ", ".join(sorted(integ.feeds)) or "none"
            raise ConfigError(f"integration {integration!r} has no feed {name!r}; known: {known}") from None

    def maps(self, integ: IntegrationDef, feed: FeedDef | None = None) -> dict[str, Mapping[str, Any]]:
        """Value maps a feed's rules see: its mapping file's, overridden by the integration's own."""
        return parts.maps(integ, feed)

    def connector_for(self, integ: IntegrationDef | None, side: str) -> Connector:
        """A fresh connector instance for a side of a feed (``store`` of ``integ``, or ``hub``)."""
        return parts.connector(self.connectors, self.config, integ, side, self._services)

    # -- running ----------------------------------------------------------------------------------

    def run(self, feed: str, integration: str, *, trigger: str = "manual", force: bool = False,
            progress: Progress | None = None, stop: threading.Event | None = None,
            read_ahead: bool = False, slot: datetime | None = None, early: Early | None = None) -> ExecutionInfo:
        """Run a feed now and return its execution (``LockedError`` if it is already running).

        ``read_ahead``: the caller owns this process (the CLI's ``run``, ``serve``):
        a store -> hub feed may then read its pages in a second process while this
        one writes: forked where this process has one thread (engine.readahead),
        else started by a fork server for an engine built from an engine.yaml file
        (engine.spawnread). engine.yaml's ``read_ahead: false`` turns it off.
        Embedded callers leave it off.
        ``slot``: the schedule slot the run is for (the scheduler's); a feed that
        another scheduler has run or started for it since raises ``SlotTakenError``.
        ``early``: what :meth:`read_early` returned for this run (with ``read_ahead``);
        stopped when the run ends if the run did not take its pages.
        """
        try:
            return self.runner.run(integration, feed, trigger=trigger, force=force, progress=progress, stop=stop,
                                   read_ahead=read_ahead, slot=slot, early=early)
        finally:
            if early is not None:
                early.cancel()

    def read_early(self, feed: str, integration: str, *, force: bool = False) -> Early | None:
        """Start reading a store -> hub feed's pages in a forked process before :meth:`run` (None if it cannot).

        For a caller that owns its process, as for ``read_ahead``, and builds the
        engine with ``migrate=False``: the store is read while :meth:`upgrade` and
        :meth:`reap` run. Pass the result to :meth:`run` (which takes the pages only
        if the feed's cursor and the integration's mode are still those they were
        read with) or call its ``cancel()``.
        """
        from engine.earlyread import read_early

        return read_early(self.runner, integration, feed, force=force)

    def recheck(self, feed: str, integration: str, *, ids: list[int] | None = None,
                trigger: str = "retry", now: datetime | None = None) -> ExecutionInfo | None:
        """Re-check the parked records of a feed that are due at ``now`` (default: the clock), or exactly ``ids``."""
        return self.runner.recheck(integration, feed, ids=ids, trigger=trigger, now=now)

    # -- modes ------------------------------------------------------------------------------------

    def mode(self, integration: str) -> str:
        """``test`` or ``live``: the integration's current mode (kept in the database)."""
        integ = self.integration(integration)
        with self.transactions.begin() as s:
            return modes.get_mode(s, integ.name, integ.mode, self.clock())

    # -- what a person sees -----------------------------------------------------------------------

    def executions(self, *, integration: str | None = None, feed: str | None = None, status: str | None = None,
                   limit: int = 50) -> list[ExecutionInfo]:
        """Executions, newest first, filtered."""
        c = execution_rows.c
        q = select(execution_rows).order_by(c.id.desc()).limit(limit)
        if integration:
            q = q.where(c.integration == integration)
        if feed:
            q = q.where(c.feed == feed)
        if status:
            q = q.where(c.status == status)
        with self.transactions() as s:
            return [journal.execution_info(r) for r in s.execute(q)]

    def execution(self, execution_id: int) -> tuple[ExecutionInfo, list[dict[str, Any]]]:
        """One execution and every event it recorded."""
        with self.transactions() as s:
            row = s.execute(select(execution_rows).where(execution_rows.c.id == execution_id)).first()
            if row is None:
                raise EngineError(f"no execution {execution_id}")
            found = [{"id": e.id, "record_key": e.record_key, "severity": e.severity, "message": e.message,
                      "details": e.details, "created_at": e.created_at.isoformat()}
                     for e in s.execute(select(event_rows).where(event_rows.c.execution_id == execution_id)
                                        .order_by(event_rows.c.id))]
            return journal.execution_info(row), found

    def notifications(self, *, include_acknowledged: bool = False, integration: str | None = None,
                      limit: int = 200) -> list[NotificationInfo]:
        """The bell: open notifications (unacknowledged and not resolved), most recent first."""
        c = notification_rows.c
        q = select(notification_rows).order_by(c.last_seen.desc(), c.id.desc()).limit(limit)
        if not include_acknowledged:
            q = q.where(c.acknowledged_at.is_(None), c.resolved_at.is_(None))
        if integration:
            q = q.where(c.integration == integration)
        with self.transactions() as s:
            return [journal.notification_info(r) for r in s.execute(q)]

    def acknowledge(self, ids: Sequence[int] | None = None) -> int:
        """Acknowledge notifications (``None``: all open ones); returns how many."""
        c = notification_rows.c
        q = update(notification_rows).where(c.acknowledged_at.is_(None)).values(acknowledged_at=self.clock())
        if ids is not None:
            q = q.where(c.id.in_(list(ids)))
        with self.transactions.begin() as s:
            return int(s.execute(q).rowcount)

    # -- operations: scheduling, parked records, modes (engine.scheduler, engine.reaper, engine.parked,
    #    engine.golive) ---------------------------------------------------------------------------

    @property
    def scheduler(self) -> Scheduler:
        """This engine's scheduler (made on first use; it caches cron slots between ticks)."""
        from engine.scheduler import Scheduler

        if getattr(self, "_scheduler", None) is None:
            self._scheduler = Scheduler(self)
        return self._scheduler

    def due(self, now: datetime | None = None) -> list[WorkItem]:
        """Feed runs and parked re-checks due at ``now`` (default: the clock), oldest first."""
        return self.scheduler.due(now)

    def tick(self, now: datetime | None = None, *, trigger: str = "schedule", pool_size: int | None = None,
             stop: threading.Event | None = None, read_ahead: bool = False) -> list[TickResult]:
        """Close runs of dead processes, then run what is due at ``now`` in a local pool and wait for it.

        ``read_ahead``: as for :meth:`run` (the caller owns this process); it applies when the
        pool is one run at a time, which then runs in the calling thread.
        """
        from engine.reaper import reap_dead

        reap_dead(self, now)
        return self.scheduler.tick(now, trigger=trigger, pool_size=pool_size, stop=stop, read_ahead=read_ahead)

    def reap(self, now: datetime | None = None) -> list[ExecutionInfo]:
        """Mark executions left running by dead processes (lease expired) as failed; return them."""
        from engine.reaper import reap_dead

        return reap_dead(self, now)

    def parked(self, *, integration: str | None = None, feed: str | None = None) -> list[ParkedInfo]:
        """Parked records with reason, attempts and next check, next check first."""
        from engine.parked import list_parked

        return list_parked(self, integration=integration, feed=feed)

    def retry_parked(self, ids: Sequence[int] | None = None) -> list[TickResult]:
        """Re-check parked records now (exactly ``ids``, or all); one execution per feed."""
        from engine.parked import retry_parked

        return retry_parked(self, ids)

    def drop_parked(self, ids: Sequence[int], *, reason: str | None = None) -> list[ParkedInfo]:
        """Give up on parked records; an info event records it."""
        from engine.parked import drop_parked

        return drop_parked(self, ids, reason=reason)

    def verify(self, integration: str) -> list[Check]:
        """The go-live checks of an integration, without switching anything."""
        from engine.golive import verify

        return verify(self, integration)

    def go_live(self, integration: str, *, force: bool = False, reason: str | None = None) -> ModeReport:
        """Verify, then switch to live if every check passed (or ``force``, recorded as forced)."""
        from engine.golive import go_live

        return go_live(self, integration, force=force, reason=reason)

    def go_test(self, integration: str, *, reason: str | None = None) -> ModeReport:
        """Switch back to test mode (outbound feeds stop); recorded in the audit trail."""
        from engine.golive import go_test

        return go_test(self, integration, reason=reason)

    def current_modes(self) -> dict[str, str]:
        """The current mode of every configured integration."""
        from engine.golive import current_modes

        return current_modes(self)

    def mode_history(self, integration: str | None = None) -> list[ModeChangeInfo]:
        """Every mode switch (of one integration, or all), oldest first, with time, reason and checks."""
        from engine.golive import history

        return history(self, integration)

    # -- hub operations (what a host service does to the hub) ----------------------------------

    def set_stock(self, sku: str, quantity: int, warehouse: str | None = None) -> dict[str, Any]:
        """Set the hub's stock of a SKU in a warehouse (default: the hub's default warehouse)."""
        from engine import hubapi

        return hubapi.set_stock(self, sku, quantity, warehouse)

    def create_shipment(self, order: str, *, carrier: str, tracking: str, integration: str | None = None,
                        url: str | None = None, lines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Ship a hub order (by external id or number; ``lines`` None ships every line).

        ``shipping_confirmation`` pushes it to the store once the integration is live.
        """
        from engine import hubapi

        return hubapi.create_shipment(self, order, carrier=carrier, tracking=tracking, integration=integration,
                                      url=url, lines=lines)

    def adjust_stock(self, sku: str, delta: int, warehouse: str | None = None) -> dict[str, Any]:
        """Add ``delta`` (may be negative) to the hub's stock of a SKU."""
        from engine import hubapi

        return hubapi.adjust_stock(self, sku, delta, warehouse)

    def get_order(self, key: str, integration: str | None = None) -> dict[str, Any] | None:
        """A hub order by external id or number, with its lines, or None."""
        from engine import hubapi

        return hubapi.get_order(self, key, integration)

    def hub_list(self, what: str, **filters: Any) -> list[dict[str, Any]]:
        """List hub data: ``products``, ``orders``, ``stock``, ``shipments`` or ``images``."""
        from engine import hubapi

        return hubapi.hub_list(self, what, **filters)
