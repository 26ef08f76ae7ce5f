"""Every exception the engine raises, and the severity each one carries.

The tree::

    EngineError
     +-- ConfigError                  a file or value in the configuration is wrong
     |    +-- ConfigValidationError   many problems at once, each with file:line:col
     |    +-- FeedDefinitionError     a feed that cannot run as written
     +-- PluginError                  a plugin is broken or registers something twice
     +-- MappingError                 a JMESPath expression failed (compile or on a record)
     +-- StoreError                   the engine's database refused an operation
     +-- LockedError                  the feed is already running elsewhere
     +-- ModeError                    the integration's mode forbids this (test mode)
     +-- ConnectorError               talking to a store went wrong
     |    +-- TransientError          429, 5xx, timeouts: try again later   (retry)
     |    +-- AuthError               401/403: credentials are wrong         (error)
     |    +-- RemoteRejected          the store refused a record (4xx)      (error)
     +-- RecordError                  one record cannot be processed        (error)

Severity is data on the class (``severity``), never read from message text: the
runner parks ``retry`` records, rings the bell for ``error`` and logs ``info``.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar


class Severity(str, Enum):  # noqa: UP042 - str values compare equal to YAML's plain strings
    """What happens to a record that raised or matched a rule."""

    INFO = "info"
    RETRY = "retry"
    ERROR = "error"


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""

    severity: ClassVar[Severity] = Severity.ERROR

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class ConfigError(EngineError):
    """A configuration file or value is wrong."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 col: int | None = None, path: str | None = None) -> None:
        super().__init__(message, file=file, line=line, col=col, path=path)
        self.file, self.line, self.col, self.path = file, line, col, path

    def location(self) -> str:
        """``file:line:col`` (as much of it as is known)."""
        parts = [self.file or "<config>"]
        if self.line is not None:
            parts.append(str(self.line))
            parts.append(str(self.col if self.col is not None else 1))
        return ":".join(parts)

    def render(self) -> str:
        """One line: ``file:line:col: message``."""
        return f"{self.location()}: {self.message}"


class ConfigValidationError(ConfigError):
    """Several configuration problems, collected and raised together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file or "", e.line or 0, e.col or 0, e.message))
        first = self.errors[0] if self.errors else None
        super().__init__(
            f"{len(self.errors)} configuration problem(s)",
            file=first.file if first else None,
        )

    def render(self) -> str:
        """Every problem, one per line."""
        return "\n".join(e.render() for e in self.errors)


class FeedDefinitionError(ConfigError):
    """A feed definition that cannot run as written."""


class PluginError(EngineError):
    """A plugin is broken, or registers a name another plugin already has."""


class MappingError(EngineError):
    """A JMESPath expression does not compile, or failed on one record."""

    def __init__(self, message: str, *, feed: str | None = None, field: str | None = None,
                 expression: str | None = None, record: str | None = None,
                 file: str | None = None) -> None:
        super().__init__(message, feed=feed, field=field, expression=expression,
                         record=record, file=file)
        self.feed, self.field, self.expression, self.record, self.file = (
            feed, field, expression, record, file)


class StoreError(EngineError):
    """The engine's own database refused an operation."""


class LockedError(EngineError):
    """The feed of this integration is already running."""

    def __init__(self, message: str, *, since: Any = None, execution_id: int | None = None,
                 holder: str | None = None) -> None:
        super().__init__(message, since=since, execution_id=execution_id, holder=holder)
        self.since, self.execution_id, self.holder = since, execution_id, holder


class SlotTakenError(LockedError):
    """Another scheduler already ran (or started) the feed for the schedule slot this run was for."""


class ModeError(EngineError):
    """The integration's mode forbids the operation (e.g. a write in test mode)."""


class ConnectorError(EngineError):
    """Talking to a store (or the hub) went wrong."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None,
                 body: str | None = None, retry_after: float | None = None,
                 record: str | None = None) -> None:
        super().__init__(message, status=status, url=url, record=record)
        self.status, self.url, self.body = status, url, body
        self.retry_after = retry_after
        self.record = record


class TransientError(ConnectorError):
    """Throttled, a 5xx or a timeout: it may work if tried again later."""

    severity = Severity.RETRY


class AuthError(ConnectorError):
    """The store refused the credentials (401/403)."""


class RemoteRejected(ConnectorError):
    """The store refused a record (a 4xx on write), with the store's own message."""


class RecordError(EngineError):
    """One record cannot be processed; it fails alone and the feed goes on."""

    def __init__(self, message: str, *, record: str | None = None,
                 severity: Severity | None = None, **context: Any) -> None:
        super().__init__(message, record=record, **context)
        self.record = record
        if severity is not None:
            self.severity = severity  # type: ignore[misc]
