"""Schedule runs: one row per (tenant, rule, scheduled time), fired, caught up or missed, with a duplicate count.

Revision ID: 0004_schedule_runs
Revises: 0003_channels
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import UTCDateTime

revision: str = "0004_schedule_runs"
down_revision: str | None = "0003_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("delay_ms", sa.Float(), nullable=True),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("fencing", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_runs"),
        sa.UniqueConstraint("tenant", "rule_id", "scheduled_at", name="uq_schedule_runs_tenant_rule_id_scheduled_at"),
    )
    op.create_index("ix_schedule_runs_tenant_scheduled", "schedule_runs", ["tenant", "scheduled_at"])


def downgrade() -> None:
    op.drop_index("ix_schedule_runs_tenant_scheduled", table_name="schedule_runs")
    op.drop_table("schedule_runs")
