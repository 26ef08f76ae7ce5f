"""The engine's own tables (executions, events, notifications, parked records, cursors...).

Revision ID: engine_0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "engine_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("engine",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "ce_cursors",
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration", "feed", name=op.f("pk_ce_cursors")),
    )

    op.create_table(
        "ce_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("cursor_before", sa.JSON(), nullable=True),
        sa.Column("cursor_after", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_executions")),
    )
    op.create_index(op.f("ix_ce_executions_feed"), "ce_executions", ["feed"], unique=False)
    op.create_index(op.f("ix_ce_executions_integration"), "ce_executions", ["integration"], unique=False)
    op.create_index(op.f("ix_ce_executions_status"), "ce_executions", ["status"], unique=False)

    op.create_table(
        "ce_feed_state",
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("once_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("integration", "feed", name=op.f("pk_ce_feed_state")),
    )

    op.create_table(
        "ce_integrations",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ce_integrations")),
    )

    op.create_table(
        "ce_ledger",
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("record_key", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=255), nullable=True),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration", "feed", "record_key", name=op.f("pk_ce_ledger")),
    )

    op.create_table(
        "ce_locks",
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("integration", "feed", name=op.f("pk_ce_locks")),
    )

    op.create_table(
        "ce_mode_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("from_mode", sa.String(length=10), nullable=True),
        sa.Column("to_mode", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_mode_changes")),
    )
    op.create_index(op.f("ix_ce_mode_changes_integration"), "ce_mode_changes", ["integration"], unique=False)

    op.create_table(
        "ce_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("record_key", sa.String(length=255), nullable=True),
        sa.Column("record_label", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_execution_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_notifications")),
    )
    op.create_index("ix_ce_notifications_cause", "ce_notifications", ["cause"], unique=True)

    op.create_table(
        "ce_parked",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("record_key", sa.String(length=255), nullable=False),
        sa.Column("record_label", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_parked")),
    )
    op.create_index("ix_ce_parked_key", "ce_parked", ["integration", "feed", "record_key"], unique=True)
    op.create_index(op.f("ix_ce_parked_next_check_at"), "ce_parked", ["next_check_at"], unique=False)

    op.create_table(
        "ce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("feed", sa.String(length=100), nullable=False),
        sa.Column("record_key", sa.String(length=255), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["execution_id"], ["ce_executions.id"],
            name=op.f("fk_ce_events_execution_id_ce_executions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_events")),
    )
    op.create_index("ix_ce_events_execution", "ce_events", ["execution_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_ce_events_execution", table_name="ce_events")
    op.drop_table("ce_events")
    op.drop_index(op.f("ix_ce_parked_next_check_at"), table_name="ce_parked")
    op.drop_index("ix_ce_parked_key", table_name="ce_parked")
    op.drop_table("ce_parked")
    op.drop_index("ix_ce_notifications_cause", table_name="ce_notifications")
    op.drop_table("ce_notifications")
    op.drop_index(op.f("ix_ce_mode_changes_integration"), table_name="ce_mode_changes")
    op.drop_table("ce_mode_changes")
    op.drop_table("ce_locks")
    op.drop_table("ce_ledger")
    op.drop_table("ce_integrations")
    op.drop_table("ce_feed_state")
    op.drop_index(op.f("ix_ce_executions_status"), table_name="ce_executions")
    op.drop_index(op.f("ix_ce_executions_integration"), table_name="ce_executions")
    op.drop_index(op.f("ix_ce_executions_feed"), table_name="ce_executions")
    op.drop_table("ce_executions")
    op.drop_table("ce_cursors")
