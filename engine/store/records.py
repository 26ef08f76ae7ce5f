"""Plain, detached views of executions and notifications handed to observers and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

COUNT_KEYS = ("read", "created", "updated", "unchanged", "info", "parked", "errors")


def printable(text: str | None) -> str | None:
    """``text`` with NUL characters written as ``\\0``: a store's bad value quoted in a message must still store."""
    return text.replace("\x00", "\\0") if text and "\x00" in text else text


def empty_counts() -> dict[str, int]:
    """A fresh counts dict with every key at zero."""
    return dict.fromkeys(COUNT_KEYS, 0)


@dataclass(frozen=True)
class ExecutionInfo:
    """A finished (or running) execution, detached from any session."""

    id: int
    integration: str
    feed: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(default_factory=empty_counts)
    cursor_before: Any = None
    cursor_after: Any = None
    message: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``execution_id`` as well as ``id``)."""
        d = asdict(self)
        d["execution_id"] = self.id
        d["started_at"] = self.started_at.isoformat()
        d["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        d["duration"] = self.duration
        return d


@dataclass(frozen=True)
class NotificationInfo:
    """A notification (the bell), detached from any session."""

    id: int
    integration: str
    feed: str
    record_key: str | None
    record_label: str | None
    message: str
    hint: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None = None
    details: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        for k in ("first_seen", "last_seen", "acknowledged_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d
