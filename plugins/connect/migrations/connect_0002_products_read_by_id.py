"""Hub products are read by id with an updated-since filter: the (updated_at, id) index goes.

Every changed variant rewrote an entry of that index beside its row; the read it
served now pages by primary key (plugins/connect/reading.py, ``pages_by_id``).

Revision ID: connect_0002
Revises: connect_0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "connect_0002"
down_revision: str | Sequence[str] | None = "connect_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.drop_index("ix_hub_products_cursor", table_name="hub_products")


def downgrade() -> None:
    """Revert this revision."""
    op.create_index("ix_hub_products_cursor", "hub_products", ["updated_at", "id"], unique=False)
