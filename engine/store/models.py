"""ORM classes over the engine's tables (:mod:`engine.store.tables`), for code that wants objects.

A run never imports them (it reads and writes the tables with Core statements);
the inspection commands, the tests and plugins with ORM models of their own do.
Hub classes (``plugins/connect/models.py``) live on the same ``Base``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import DeclarativeBase, Mapped

from engine.store import tables
from engine.store.tables import NAMING, UTCDateTime

__all__ = ["NAMING", "UTCDateTime", "Base", "Execution", "Event", "Notification", "Parked", "Cursor", "Ledger",
           "Lock", "FeedState", "IntegrationState", "ModeChange"]


class Base(DeclarativeBase):
    """The one declarative base of the engine and the hub (its metadata: :data:`engine.store.tables.metadata`)."""

    metadata = tables.metadata
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, Any: JSON}


class Execution(Base):
    """One run of one feed for one integration."""

    __table__ = tables.executions

    id: Mapped[int]
    integration: Mapped[str]
    feed: Mapped[str]
    trigger: Mapped[str]  # schedule | manual | retry | due
    status: Mapped[str]  # running|success|partial|failed|skipped|interrupted
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    cursor_before: Mapped[Any | None]
    cursor_after: Mapped[Any | None]
    message: Mapped[str | None]
    holder: Mapped[str | None]

    def __repr__(self) -> str:
        return f"<Execution {self.id} {self.integration}/{self.feed} {self.status}>"


class Event(Base):
    """Something worth keeping about one record in one execution (info, parked, error...)."""

    __table__ = tables.events

    id: Mapped[int]
    execution_id: Mapped[int | None]
    integration: Mapped[str]
    feed: Mapped[str]
    record_key: Mapped[str | None]
    severity: Mapped[str]  # info | retry | error
    message: Mapped[str]
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.severity} {self.record_key}>"


class Notification(Base):
    """The bell: an error-severity cause, deduplicated, waiting for a person."""

    __table__ = tables.notifications

    id: Mapped[int]
    cause: Mapped[str]  # hash of integration, feed, record, message kind
    integration: Mapped[str]
    feed: Mapped[str]
    record_key: Mapped[str | None]
    record_label: Mapped[str | None]  # order number, SKU
    message: Mapped[str]
    hint: Mapped[str | None]
    details: Mapped[dict[str, Any] | None]
    count: Mapped[int]
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_execution_id: Mapped[int | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.integration}/{self.feed} {self.record_key}>"


class Parked(Base):
    """A record whose rule said ``retry``: re-checked until it passes or expires."""

    __table__ = tables.parked

    id: Mapped[int]
    integration: Mapped[str]
    feed: Mapped[str]
    record_key: Mapped[str]
    record_label: Mapped[str | None]
    reason: Mapped[str]
    attempts: Mapped[int]
    parked_at: Mapped[datetime]
    last_checked_at: Mapped[datetime]
    next_check_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Parked {self.integration}/{self.feed} {self.record_key} x{self.attempts}>"


class Cursor(Base):
    """Where a feed's source read got to; advanced in the same transaction as its page."""

    __table__ = tables.cursors

    integration: Mapped[str]
    feed: Mapped[str]
    value: Mapped[Any | None]
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Cursor {self.integration}/{self.feed} {self.value!r}>"


class Ledger(Base):
    """What a feed last wrote for a key: its hash (change detection) and the remote id."""

    __table__ = tables.ledger

    integration: Mapped[str]
    feed: Mapped[str]
    record_key: Mapped[str]
    digest: Mapped[bytes]
    remote_id: Mapped[str | None]
    written_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Ledger {self.integration}/{self.feed} {self.record_key}>"


class Lock(Base):
    """The lease that keeps one feed of one integration from running twice at once."""

    __table__ = tables.locks

    integration: Mapped[str]
    feed: Mapped[str]
    holder: Mapped[str]
    execution_id: Mapped[int | None]
    acquired_at: Mapped[datetime]
    lease_until: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Lock {self.integration}/{self.feed} by {self.holder} until {self.lease_until}>"


class FeedState(Base):
    """Scheduling state of one feed of one integration."""

    __table__ = tables.feed_state

    integration: Mapped[str]
    feed: Mapped[str]
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_status: Mapped[str | None]
    last_success_at: Mapped[datetime | None]
    last_scheduled_for: Mapped[datetime | None]
    once_done_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<FeedState {self.integration}/{self.feed} {self.last_status}>"


class IntegrationState(Base):
    """The mode of an integration (test or live); engine.yaml gives only the first one."""

    __table__ = tables.integration_state

    name: Mapped[str]
    mode: Mapped[str]
    changed_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<IntegrationState {self.name} {self.mode}>"


class ModeChange(Base):
    """Audit trail of every mode switch."""

    __table__ = tables.mode_changes

    id: Mapped[int]
    integration: Mapped[str]
    from_mode: Mapped[str | None]
    to_mode: Mapped[str]
    at: Mapped[datetime]
    reason: Mapped[str]
    forced: Mapped[bool]
    checks: Mapped[Any | None]

    def __repr__(self) -> str:
        return f"<ModeChange {self.integration} {self.from_mode}->{self.to_mode}>"
