"""SQLAlchemy models of the engine's own state (executions, events, parked records...).

Hub models (``plugins/connect``) live on the same ``Base`` so one metadata, one
database and one transaction cover a page's data and its bookkeeping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned tz-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the engine stores tz-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The one declarative base of the engine and the hub."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, Any: JSON}


class Execution(Base):
    """One run of one feed for one integration."""

    __tablename__ = "ce_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100), index=True)
    feed: Mapped[str] = mapped_column(String(100), index=True)
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | manual | retry | due
    status: Mapped[str] = mapped_column(String(20), index=True)  # running|success|partial|failed|skipped|interrupted
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor_before: Mapped[Any | None] = mapped_column(JSON)
    cursor_after: Mapped[Any | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    holder: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"<Execution {self.id} {self.integration}/{self.feed} {self.status}>"


class Event(Base):
    """Something worth keeping about one record in one execution (info, parked, error...)."""

    __tablename__ = "ce_events"
    __table_args__ = (Index("ix_ce_events_execution", "execution_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int | None] = mapped_column(ForeignKey("ce_executions.id", ondelete="CASCADE"))
    integration: Mapped[str] = mapped_column(String(100))
    feed: Mapped[str] = mapped_column(String(100))
    record_key: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(10))  # info | retry | error
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.severity} {self.record_key}>"


class Notification(Base):
    """The bell: an error-severity cause, deduplicated, waiting for a person."""

    __tablename__ = "ce_notifications"
    __table_args__ = (Index("ix_ce_notifications_cause", "cause", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cause: Mapped[str] = mapped_column(String(64))  # hash of integration, feed, record, message kind
    integration: Mapped[str] = mapped_column(String(100))
    feed: Mapped[str] = mapped_column(String(100))
    record_key: Mapped[str | None] = mapped_column(String(255))
    record_label: Mapped[str | None] = mapped_column(String(255))  # order number, SKU
    message: Mapped[str] = mapped_column(Text)
    hint: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    last_execution_id: Mapped[int | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.integration}/{self.feed} {self.record_key}>"


class Parked(Base):
    """A record whose rule said ``retry``: re-checked until it passes or expires."""

    __tablename__ = "ce_parked"
    __table_args__ = (Index("ix_ce_parked_key", "integration", "feed", "record_key", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    feed: Mapped[str] = mapped_column(String(100))
    record_key: Mapped[str] = mapped_column(String(255))
    record_label: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    parked_at: Mapped[datetime]
    last_checked_at: Mapped[datetime]
    next_check_at: Mapped[datetime] = mapped_column(index=True)
    expires_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Parked {self.integration}/{self.feed} {self.record_key} x{self.attempts}>"


class Cursor(Base):
    """Where a feed's source read got to; advanced in the same transaction as its page."""

    __tablename__ = "ce_cursors"

    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any | None] = mapped_column(JSON)
    updated_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Cursor {self.integration}/{self.feed} {self.value!r}>"


class Ledger(Base):
    """What a feed last wrote for a key: its hash (change detection) and the remote id."""

    __tablename__ = "ce_ledger"

    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), primary_key=True)
    record_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    written_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Ledger {self.integration}/{self.feed} {self.record_key}>"


class Lock(Base):
    """The lease that keeps one feed of one integration from running twice at once."""

    __tablename__ = "ce_locks"

    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    execution_id: Mapped[int | None]
    acquired_at: Mapped[datetime]
    lease_until: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<Lock {self.integration}/{self.feed} by {self.holder} until {self.lease_until}>"


class FeedState(Base):
    """Scheduling state of one feed of one integration."""

    __tablename__ = "ce_feed_state"

    integration: Mapped[str] = mapped_column(String(100), primary_key=True)
    feed: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_started_at: Mapped[datetime | None]
    last_finished_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(20))
    last_success_at: Mapped[datetime | None]
    last_scheduled_for: Mapped[datetime | None]
    once_done_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<FeedState {self.integration}/{self.feed} {self.last_status}>"


class IntegrationState(Base):
    """The mode of an integration (test or live); engine.yaml gives only the first one."""

    __tablename__ = "ce_integrations"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    mode: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[datetime]

    def __repr__(self) -> str:
        return f"<IntegrationState {self.name} {self.mode}>"


class ModeChange(Base):
    """Audit trail of every mode switch."""

    __tablename__ = "ce_mode_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    integration: Mapped[str] = mapped_column(String(100), index=True)
    from_mode: Mapped[str | None] = mapped_column(String(10))
    to_mode: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    forced: Mapped[bool] = mapped_column(default=False)
    checks: Mapped[Any | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"<ModeChange {self.integration} {self.from_mode}->{self.to_mode}>"
