"""Notification channels: public config, write-only secrets, soft delete, and the latest channel test.

Revision ID: 0003_channels
Revises: 0002_events
Create Date: 2025-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0003_channels"
down_revision: str | None = "0002_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("config", PortableJSON, nullable=False),
        sa.Column("secrets", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("last_test_at", UTCDateTime(), nullable=True),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.Column("last_test_error", PortableJSON, nullable=True),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channels"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_channels_tenant_tenants"),
    )
    op.create_index("ix_channels_tenant_order", "channels", ["tenant", "created_at", "channel_id"])
    op.create_index(
        "uq_channels_tenant_live_name",
        "channels",
        ["tenant", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_channels_tenant_live_name", table_name="channels")
    op.drop_index("ix_channels_tenant_order", table_name="channels")
    op.drop_table("channels")
