"""engine.yaml, feed and mapping files: load, validate, resolve, freeze.

(The loader is being written; the dataclasses below are the contract.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from engine.feeds import FeedDef


@dataclass(frozen=True)
class IntegrationDef:
    """One store connection, fully resolved.

    Attributes:
        name: The integration's name (key in engine.yaml).
        connector: The connector's registered name.
        settings: Connector settings with ``${ENV_VAR}`` resolved (never log these).
        mode: The initial mode (``test`` unless engine.yaml says ``live``); the
            current mode lives in the database.
        maps: Value maps (e.g. ``carriers``) that override the mapping files' maps.
        feeds: The integration's feeds by name: the connector's standard set with
            this integration's overrides applied.
        secrets: Resolved values of secret settings, masked in every output.
        file: engine.yaml's path.
        line: Line of the integration in engine.yaml.
    """

    name: str
    connector: str
    settings: Mapping[str, Any]
    mode: str = "test"
    maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    feeds: Mapping[str, FeedDef] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class EngineConfig:
    """The whole configuration, validated and frozen."""

    path: Path | None
    root: Path
    database_url: str
    timezone: str = "UTC"
    data_dir: Path = Path("var/data")
    feeds_dir: Path = Path("feeds.d")
    mappings_dir: Path = Path("mappings")
    pool_size: int = 4
    lock_lease: timedelta = timedelta(seconds=60)
    disabled_plugins: tuple[str, ...] = ()
    hub_connector: str = "connect"
    hub_settings: Mapping[str, Any] = field(default_factory=dict)
    integrations: Mapping[str, IntegrationDef] = field(default_factory=dict)
