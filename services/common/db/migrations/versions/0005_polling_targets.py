"""Metric-polling targets: one row per target, its canonical spec as JSON, soft delete, unique live names.

Revision ID: 0005_polling_targets
Revises: 0004_schedule_runs
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0005_polling_targets"
down_revision: str | None = "0004_schedule_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "polling_targets",
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("target_id", name="pk_polling_targets"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_polling_targets_tenant_tenants"),
    )
    op.create_index("ix_polling_targets_tenant_order", "polling_targets", ["tenant", "created_at", "target_id"])
    op.create_index(
        "uq_polling_targets_tenant_live_name",
        "polling_targets",
        ["tenant", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_polling_targets_tenant_live_name", table_name="polling_targets")
    op.drop_index("ix_polling_targets_tenant_order", table_name="polling_targets")
    op.drop_table("polling_targets")
