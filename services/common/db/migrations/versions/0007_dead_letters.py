"""Dead letters (what the platform could not process, for an admin to list and replay) and per-rule error state.

Revision ID: 0007_dead_letters
Revises: 0006_team_settings
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0007_dead_letters"
down_revision: str | None = "0006_team_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("event", PortableJSON, nullable=True),
        sa.Column("origin", PortableJSON, nullable=True),
        sa.Column("replay", PortableJSON, nullable=True),
        sa.Column("replay_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("replayed_at", UTCDateTime(), nullable=True),
        sa.Column("replayed_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_index("ix_dead_letters_tenant_at", "dead_letters", ["tenant", "at", "id"])
    with op.batch_alter_table("rules") as batch:
        batch.add_column(sa.Column("error_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_error_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rules") as batch:
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
        batch.drop_column("error_count")
    op.drop_index("ix_dead_letters_tenant_at", table_name="dead_letters")
    op.drop_table("dead_letters")
