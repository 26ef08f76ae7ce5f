"""The hub's tables (products, links, orders, stock, suppliers, shipments, images).

Revision ID: connect_0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "connect_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("connect",)
depends_on: str | Sequence[str] | None = "engine_0001"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "hub_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_images")),
        sa.UniqueConstraint("sku", "url", name="uq_hub_images_sku_url"),
    )
    op.create_index("ix_hub_images_cursor", "hub_images", ["updated_at", "id"], unique=False)
    op.create_index("ix_hub_images_url", "hub_images", ["url"], unique=False)

    op.create_table(
        "hub_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("payment_status", sa.String(length=40), nullable=True),
        sa.Column("currency", sa.String(length=10), nullable=True),
        sa.Column("total", sa.String(length=40), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("customer", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("shipping_address", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("billing_address", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_orders")),
        sa.UniqueConstraint("external_id", "integration", name="uq_hub_orders_external_id_integration"),
    )
    op.create_index("ix_hub_orders_cursor", "hub_orders", ["updated_at", "id"], unique=False)
    op.create_index("ix_hub_orders_number", "hub_orders", ["number"], unique=False)

    op.create_table(
        "hub_product_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_product_links")),
        sa.UniqueConstraint("sku", "integration", name="uq_hub_product_links_sku_integration"),
    )

    op.create_table(
        "hub_product_suppliers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("supplier_external_id", sa.String(length=255), nullable=True),
        sa.Column("supplier_reference", sa.String(length=255), nullable=True),
        sa.Column("price", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_product_suppliers")),
        sa.UniqueConstraint("external_id", "integration", name="uq_hub_product_suppliers_external_id_integration"),
    )
    op.create_index("ix_hub_product_suppliers_sku", "hub_product_suppliers", ["sku"], unique=False)

    op.create_table(
        "hub_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("barcode", sa.String(length=100), nullable=True),
        sa.Column("weight_grams", sa.Float(), nullable=True),
        sa.Column("price", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("attributes", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_hub_products_sku")),
    )
    op.create_index("ix_hub_products_cursor", "hub_products", ["updated_at", "id"], unique=False)

    op.create_table(
        "hub_stock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("warehouse", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_stock")),
        sa.UniqueConstraint("sku", "warehouse", name="uq_hub_stock_sku_warehouse"),
    )
    op.create_index("ix_hub_stock_cursor", "hub_stock", ["updated_at", "sku"], unique=False)

    op.create_table(
        "hub_suppliers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_suppliers")),
        sa.UniqueConstraint("external_id", "integration", name="uq_hub_suppliers_external_id_integration"),
    )

    op.create_table(
        "hub_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["hub_orders.id"],
            name=op.f("fk_hub_order_lines_order_id_hub_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name="uq_hub_order_lines_order_id_line_no"),
    )

    op.create_table(
        "hub_shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("integration", sa.String(length=100), nullable=False),
        sa.Column("order_external_id", sa.String(length=255), nullable=False),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=255), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.Column("lines", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["hub_orders.id"],
            name=op.f("fk_hub_shipments_order_id_hub_orders"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_shipments")),
    )
    op.create_index("ix_hub_shipments_cursor", "hub_shipments", ["updated_at", "id"], unique=False)
    op.create_index(op.f("ix_hub_shipments_order_id"), "hub_shipments", ["order_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_hub_shipments_order_id"), table_name="hub_shipments")
    op.drop_index("ix_hub_shipments_cursor", table_name="hub_shipments")
    op.drop_table("hub_shipments")
    op.drop_table("hub_order_lines")
    op.drop_table("hub_suppliers")
    op.drop_index("ix_hub_stock_cursor", table_name="hub_stock")
    op.drop_table("hub_stock")
    op.drop_index("ix_hub_products_cursor", table_name="hub_products")
    op.drop_table("hub_products")
    op.drop_index("ix_hub_product_suppliers_sku", table_name="hub_product_suppliers")
    op.drop_table("hub_product_suppliers")
    op.drop_table("hub_product_links")
    op.drop_index("ix_hub_orders_number", table_name="hub_orders")
    op.drop_index("ix_hub_orders_cursor", table_name="hub_orders")
    op.drop_table("hub_orders")
    op.drop_index("ix_hub_images_url", table_name="hub_images")
    op.drop_index("ix_hub_images_cursor", table_name="hub_images")
    op.drop_table("hub_images")
