"""What a run is built from before any database: plugins, configuration, connectors, the run's parts.

:class:`engine.app.Engine` builds itself from these, and so does the store reader that
``connect-engine run FEED`` forks before it loads SQLAlchemy (:mod:`engine.earlyfork`):
nothing here imports SQLAlchemy, and both build a run's connectors and value maps the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import EngineConfig, IntegrationDef, load_config
from engine.connector import Connector, Services
from engine.errors import ConfigError
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
from engine.run_context import FeedRun
from engine.yamlio import read_disabled_plugins

if TYPE_CHECKING:
    from engine.feeds import FeedDef
    from engine.secrets import Masker
    from engine.store.db import Transactions


def utcnow() -> datetime:
    """The real clock (tz-aware UTC)."""
    return datetime.now(UTC)


def load(source: str | Path | Mapping[str, Any], *, plugins: Sequence[object] | None = None,
         env: Mapping[str, str] | None = None, resolve_database: bool = True
         ) -> tuple[Hooks, Compiler, EngineConfig]:
    """Register the plugins and load the configuration with their connectors and JMESPath functions.

    Args:
        source: Path of engine.yaml, or the same content as a dict.
        plugins: Register exactly these plugins instead of the ``connect_engine`` entry points.
        env: Environment for ``${ENV_VAR}`` (default: ``os.environ``).
        resolve_database: See :func:`engine.config.load_config`.

    Raises:
        ConfigValidationError: Every problem found in the configuration.
        PluginError: A plugin failed to load.
    """
    hooks = Hooks(build_manager(blocked=read_disabled_plugins(source), plugins=plugins))
    compiler = Compiler(hooks.jmespath_functions())
    config = load_config(source, connectors=hooks.connectors(), compiler=compiler, env=env,
                         resolve_database=resolve_database)
    return hooks, compiler, config


def connector(connectors: Mapping[str, type[Connector]], config: EngineConfig, integ: IntegrationDef | None,
              side: str, services: Services) -> Connector:
    """A fresh connector instance for a side of a feed (``store`` of ``integ``, or ``hub``)."""
    if side == "hub" or integ is None:
        cls = connector_class(connectors, config.hub_connector)
        return cls(integ.name if integ else "", config.hub_settings, services)
    cls = connector_class(connectors, integ.connector)
    return cls(integ.name, integ.settings, services)


def connector_class(connectors: Mapping[str, type[Connector]], name: str) -> type[Connector]:
    """The registered connector class ``name``; unknown names list the known ones."""
    try:
        return connectors[name]
    except KeyError:
        raise ConfigError(f"no connector {name!r} is registered; known: "
                          f"{', '.join(sorted(connectors)) or 'none'}") from None


def maps(integ: IntegrationDef, feed: FeedDef | None = None) -> dict[str, Mapping[str, Any]]:
    """Value maps a feed's rules see: its mapping file's, overridden by the integration's own."""
    base = dict(feed.mapping.maps) if feed is not None and feed.mapping is not None else {}
    return {**base, **integ.maps}


def feed_run(integ: IntegrationDef, fd: FeedDef, source: Connector, target: Connector, *,
             transactions: Transactions | None, compiler: Compiler, clock: Callable[[], datetime], tz: tzinfo,
             mode: str, masker: Masker, execution_id: int | None) -> FeedRun:
    """The parts of one run of ``fd`` (``transactions`` None: a reader that never touches the database)."""
    return FeedRun(integration=integ, feed=fd, source=source, target=target, transactions=transactions,  # type: ignore[arg-type]
                   compiler=compiler, clock=clock, tz=tz, mode=mode, masker=masker, maps=maps(integ, fd),
                   execution_id=execution_id)
