"""Per-tenant quota overrides set by the platform admin (absent row: the platform defaults, CEP_QUOTA_*).

Revision ID: 0008_tenant_quotas
Revises: 0007_dead_letters
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0008_tenant_quotas"
down_revision: str | None = "0007_dead_letters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_quotas",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("overrides", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_tenant_quotas"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_tenant_quotas_tenant_tenants"),
    )


def downgrade() -> None:
    op.drop_table("tenant_quotas")
