"""Observer plugins for the tests: one records what it is told, one raises on every call.

Both are instances (each test gets its own), named through ``__name__`` so
pluggy and the engine's log lines call them by a readable name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine import hookimpl

if TYPE_CHECKING:
    from engine.store.records import ExecutionInfo, NotificationInfo


class Recorder:
    """Keeps every execution and notification the engine reports, in order."""

    def __init__(self, name: str = "recording-observer") -> None:
        self.__name__ = name
        self.executions: list[ExecutionInfo] = []
        self.notifications: list[NotificationInfo] = []

    @hookimpl
    def execution_finished(self, execution: ExecutionInfo) -> None:
        """Record the execution."""
        self.executions.append(execution)

    @hookimpl
    def notification_raised(self, notification: NotificationInfo) -> None:
        """Record the notification."""
        self.notifications.append(notification)


class Raiser:
    """A broken observer (a chat plugin whose server is down): every hook raises."""

    def __init__(self, name: str = "raising-observer") -> None:
        self.__name__ = name
        self.calls = 0

    @hookimpl
    def execution_finished(self, execution: ExecutionInfo) -> None:
        """Fail loudly."""
        self.calls += 1
        raise RuntimeError(f"chat server unreachable while posting execution {execution.id}")

    @hookimpl
    def notification_raised(self, notification: NotificationInfo) -> None:
        """Fail loudly."""
        self.calls += 1
        raise ConnectionError(f"chat server unreachable while posting notification {notification.id}")
