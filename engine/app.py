"""The embedding API: :class:`Engine`, built once from a configuration, used by the CLI and host services."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from engine.config import EngineConfig, IntegrationDef, load_config, read_disabled_plugins
from engine.connector import Connector, Services
from engine.errors import ConfigError, EngineError
from engine.feeds import FeedDef
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
from engine.runner import Progress, Runner
from engine.secrets import Masker, install_log_filter
from engine.store import journal, modes
from engine.store.db import make_db
from engine.store.models import Base, Event, Execution, Notification
from engine.store.records import ExecutionInfo, NotificationInfo

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The real clock (tz-aware UTC)."""
    return datetime.now(timezone.utc)


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
        install_log_filter(self.masker)
        self.db, self.sessions = make_db(config.database_url)
        self._models_loaded = hooks.pm.hook.register_models()
        if migrate:
            self.upgrade()
        self.runner = Runner(self)
        self._services = Services(sessions=self.sessions, clock=self.clock, data_dir=Path(config.data_dir))

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
        hooks = Hooks(build_manager(blocked=read_disabled_plugins(source), plugins=plugins))
        compiler = Compiler(hooks.jmespath_functions())
        config = load_config(source, connectors=hooks.connectors(), compiler=compiler, env=env)
        return cls(config, hooks, compiler, clock=clock or utcnow, migrate=migrate)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()

    # -- schema -----------------------------------------------------------------------------------

    def upgrade(self) -> list[str]:
        """Bring the database schema to the newest revision of every registered migration folder."""
        from engine.store import migrate

        return migrate.upgrade(self.db, migrate.folders(self.hooks))

    def create_all(self) -> None:
        """Create missing tables straight from the models (tests and throwaway databases)."""
        Base.metadata.create_all(self.db)

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

    def maps(self, integ: IntegrationDef) -> dict[str, Mapping[str, Any]]:
        """Value maps an integration's mappings and rules see (its own override the files')."""
        return dict(integ.maps)

    def connector_for(self, integ: IntegrationDef | None, side: str) -> Connector:
        """A fresh connector instance for a side of a feed (``store`` of ``integ``, or ``hub``)."""
        if side == "hub" or integ is None:
            cls = self._connector_class(self.config.hub_connector)
            return cls(integ.name if integ else "", self.config.hub_settings, self._services)
        cls = self._connector_class(integ.connector)
        return cls(integ.name, integ.settings, self._services)

    def _connector_class(self, name: str) -> type[Connector]:
        try:
            return self.connectors[name]
        except KeyError:
            raise ConfigError(f"no connector {name!r} is registered; known: "
                              f"{', '.join(sorted(self.connectors)) or 'none'}") from None

    # -- running ----------------------------------------------------------------------------------

    def run(self, feed: str, integration: str, *, trigger: str = "manual", force: bool = False,
            progress: Progress | None = None, stop: threading.Event | None = None) -> ExecutionInfo:
        """Run a feed now and return its execution (``LockedError`` if it is already running)."""
        return self.runner.run(integration, feed, trigger=trigger, force=force, progress=progress, stop=stop)

    def recheck(self, feed: str, integration: str, *, ids: list[int] | None = None,
                trigger: str = "retry") -> ExecutionInfo | None:
        """Re-check the parked records of a feed that are due (or exactly ``ids``)."""
        return self.runner.recheck(integration, feed, ids=ids, trigger=trigger)

    # -- modes ------------------------------------------------------------------------------------

    def mode(self, integration: str) -> str:
        """``test`` or ``live``: the integration's current mode (kept in the database)."""
        integ = self.integration(integration)
        with self.sessions.begin() as s:
            return modes.get_mode(s, integ.name, integ.mode, self.clock())

    # -- what a person sees -----------------------------------------------------------------------

    def executions(self, *, integration: str | None = None, feed: str | None = None, status: str | None = None,
                   limit: int = 50) -> list[ExecutionInfo]:
        """Executions, newest first, filtered."""
        q = select(Execution).order_by(Execution.id.desc()).limit(limit)
        if integration:
            q = q.where(Execution.integration == integration)
        if feed:
            q = q.where(Execution.feed == feed)
        if status:
            q = q.where(Execution.status == status)
        with self.sessions() as s:
            return [journal.execution_info(r) for r in s.scalars(q)]

    def execution(self, execution_id: int) -> tuple[ExecutionInfo, list[dict[str, Any]]]:
        """One execution and every event it recorded."""
        with self.sessions() as s:
            row = s.get(Execution, execution_id)
            if row is None:
                raise EngineError(f"no execution {execution_id}")
            events = [{"id": e.id, "record_key": e.record_key, "severity": e.severity, "message": e.message,
                       "details": e.details, "created_at": e.created_at.isoformat()}
                      for e in s.scalars(select(Event).where(Event.execution_id == execution_id).order_by(Event.id))]
            return journal.execution_info(row), events

    def notifications(self, *, include_acknowledged: bool = False, integration: str | None = None,
                      limit: int = 200) -> list[NotificationInfo]:
        """The bell: open notifications (unacknowledged and not resolved), most recent first."""
        q = select(Notification).order_by(Notification.last_seen.desc(), Notification.id.desc()).limit(limit)
        if not include_acknowledged:
            q = q.where(Notification.acknowledged_at.is_(None), Notification.resolved_at.is_(None))
        if integration:
            q = q.where(Notification.integration == integration)
        with self.sessions() as s:
            return [journal.notification_info(r) for r in s.scalars(q)]

    def acknowledge(self, ids: Sequence[int] | None = None) -> int:
        """Acknowledge notifications (``None``: all open ones); returns how many."""
        q = update(Notification).where(Notification.acknowledged_at.is_(None)).values(acknowledged_at=self.clock())
        if ids is not None:
            q = q.where(Notification.id.in_(list(ids)))
        with self.sessions.begin() as s:
            return int(s.execute(q).rowcount)  # type: ignore[attr-defined]
