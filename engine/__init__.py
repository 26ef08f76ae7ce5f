"""connect-engine: keeps an inventory / order hub in sync with e-commerce stores.

This module re-exports the plugin-facing API and nothing more. Host services
embed the engine through :class:`engine.app.Engine`.
"""

from __future__ import annotations

from engine.connector import Check, Connector, Page, Resource, RunContext, Services, WriteOutcome
from engine.errors import (
    AuthError,
    ConfigError,
    ConfigValidationError,
    ConnectorError,
    EngineError,
    FeedDefinitionError,
    LockedError,
    MappingError,
    ModeError,
    PluginError,
    RecordError,
    RemoteRejected,
    Severity,
    SlotTakenError,
    StoreError,
    TransientError,
)
from engine.hookspecs import hookimpl
from engine.mapping import JMESPathFunction
from engine.sandbox import SandboxSpec

__all__ = [
    "AuthError",
    "Check",
    "ConfigError",
    "ConfigValidationError",
    "Connector",
    "ConnectorError",
    "EngineError",
    "FeedDefinitionError",
    "JMESPathFunction",
    "LockedError",
    "MappingError",
    "ModeError",
    "Page",
    "PluginError",
    "RecordError",
    "RemoteRejected",
    "Resource",
    "RunContext",
    "SandboxSpec",
    "Services",
    "Severity",
    "SlotTakenError",
    "StoreError",
    "TransientError",
    "WriteOutcome",
    "hookimpl",
]
