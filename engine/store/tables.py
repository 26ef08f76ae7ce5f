"""The engine's own tables (executions, events, the bell, parked records, cursors, ledger, locks, state).

They are SQLAlchemy Core tables on one :data:`metadata`, which the hub's tables
(``plugins/connect/tables.py``) and any plugin's join, so one database and one
transaction cover a page's data and its bookkeeping. A run reads and writes them
with Core statements only: building ORM classes and their mappers cost a command
about 25 ms more at start-up than these tables (docs/decisions.md §26).
:mod:`engine.store.models` maps ORM classes onto the same tables for the code
that wants objects (inspection commands, tests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
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


#: The one metadata of the engine and every plugin's tables.
metadata = MetaData(naming_convention=NAMING)


def _when(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


def _text(name: str, length: int | None = None, *, nullable: bool = False, **kw: Any) -> Column[str]:
    return Column(name, String(length) if length else Text(), nullable=nullable, **kw)


#: One run of one feed for one integration.
executions = Table(
    "ce_executions", metadata,
    Column("id", Integer, primary_key=True),
    _text("integration", 100, index=True),
    _text("feed", 100, index=True),
    _text("trigger", 20),  # schedule | manual | retry | due
    _text("status", 20, index=True),  # running | success | partial | failed | skipped | interrupted
    _when("started_at"),
    _when("finished_at", nullable=True),
    Column("counts", JSON, nullable=False, default=dict),
    Column("cursor_before", JSON),
    Column("cursor_after", JSON),
    _text("message", nullable=True),
    _text("holder", 200, nullable=True),
)

#: Something worth keeping about one record in one execution (info, parked, error...).
events = Table(
    "ce_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("execution_id", ForeignKey("ce_executions.id", ondelete="CASCADE")),
    _text("integration", 100),
    _text("feed", 100),
    _text("record_key", 255, nullable=True),
    _text("severity", 10),  # info | retry | error
    _text("message"),
    Column("details", JSON),
    _when("created_at"),
    Index("ix_ce_events_execution", "execution_id"),
)

#: The bell: an error-severity cause, deduplicated, waiting for a person.
notifications = Table(
    "ce_notifications", metadata,
    Column("id", Integer, primary_key=True),
    _text("cause", 64),  # hash of integration, feed, record, message kind
    _text("integration", 100),
    _text("feed", 100),
    _text("record_key", 255, nullable=True),
    _text("record_label", 255, nullable=True),  # order number, SKU
    _text("message"),
    _text("hint", nullable=True),
    Column("details", JSON),
    Column("count", Integer, nullable=False, default=1),
    _when("first_seen"),
    _when("last_seen"),
    Column("last_execution_id", Integer),
    _when("acknowledged_at", nullable=True),
    _when("resolved_at", nullable=True),
    Index("ix_ce_notifications_cause", "cause", unique=True),
)

#: A record whose rule said ``retry``: re-checked until it passes or expires.
parked = Table(
    "ce_parked", metadata,
    Column("id", Integer, primary_key=True),
    _text("integration", 100),
    _text("feed", 100),
    _text("record_key", 255),
    _text("record_label", 255, nullable=True),
    _text("reason"),
    Column("attempts", Integer, nullable=False, default=1),
    _when("parked_at"),
    _when("last_checked_at"),
    Column("next_check_at", UTCDateTime(), nullable=False, index=True),
    _when("expires_at"),
    Index("ix_ce_parked_key", "integration", "feed", "record_key", unique=True),
)

#: Where a feed's source read got to; advanced in the same transaction as its page.
cursors = Table(
    "ce_cursors", metadata,
    _text("integration", 100, primary_key=True),
    _text("feed", 100, primary_key=True),
    Column("value", JSON),
    _when("updated_at"),
)

#: What a feed last wrote for a key: its hash (change detection) and the remote id.
ledger = Table(
    "ce_ledger", metadata,
    _text("integration", 100, primary_key=True),
    _text("feed", 100, primary_key=True),
    _text("record_key", 255, primary_key=True),
    Column("digest", LargeBinary(16), nullable=False),
    _text("remote_id", 255, nullable=True),
    _when("written_at"),
)

#: The lease that keeps one feed of one integration from running twice at once.
locks = Table(
    "ce_locks", metadata,
    _text("integration", 100, primary_key=True),
    _text("feed", 100, primary_key=True),
    _text("holder", 200),
    Column("execution_id", Integer),
    _when("acquired_at"),
    _when("lease_until"),
)

#: Scheduling state of one feed of one integration.
feed_state = Table(
    "ce_feed_state", metadata,
    _text("integration", 100, primary_key=True),
    _text("feed", 100, primary_key=True),
    _when("last_started_at", nullable=True),
    _when("last_finished_at", nullable=True),
    _text("last_status", 20, nullable=True),
    _when("last_success_at", nullable=True),
    _when("last_scheduled_for", nullable=True),
    _when("once_done_at", nullable=True),
)

#: The mode of an integration (test or live); engine.yaml gives only the first one.
integration_state = Table(
    "ce_integrations", metadata,
    _text("name", 100, primary_key=True),
    _text("mode", 10),
    _when("changed_at"),
)

#: Audit trail of every mode switch.
mode_changes = Table(
    "ce_mode_changes", metadata,
    Column("id", Integer, primary_key=True),
    _text("integration", 100, index=True),
    _text("from_mode", 10, nullable=True),
    _text("to_mode", 10),
    _when("at"),
    _text("reason"),
    Column("forced", Boolean, nullable=False, default=False),
    Column("checks", JSON),
)
