"""Team settings per tenant (section 22 policies), and per rule the simulations of its current trigger and actions.

Revision ID: 0006_team_settings
Revises: 0005_polling_targets
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0006_team_settings"
down_revision: str | None = "0005_polling_targets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_settings",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("settings", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_tenant_settings"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_tenant_settings_tenant_tenants"),
    )
    with op.batch_alter_table("rules") as batch:
        batch.add_column(sa.Column("simulation_basis", sa.String(32), nullable=True))
        batch.add_column(sa.Column("basis_simulations", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("rules") as batch:
        batch.drop_column("basis_simulations")
        batch.drop_column("simulation_basis")
    op.drop_table("tenant_settings")
