"""Silences (fixed and recurring), inhibit rules and their versions, per tenant.

Revision ID: 0009_silences
Revises: 0008_tenant_quotas
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0009_silences"
down_revision: str | None = "0008_tenant_quotas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("silence_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("matchers", PortableJSON, nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("recurrence", PortableJSON, nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("silence_id", name="pk_silences"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_silences_tenant_tenants"),
    )
    op.create_index("ix_silences_tenant_order", "silences", ["tenant", "created_at", "silence_id"])
    op.create_table(
        "inhibit_rules",
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("spec", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", name="pk_inhibit_rules"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_inhibit_rules_tenant_tenants"),
    )
    op.create_index("ix_inhibit_rules_tenant_order", "inhibit_rules", ["tenant", "created_at", "rule_id"])
    op.create_table(
        "inhibit_rule_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("spec", PortableJSON, nullable=False),
        sa.Column("actor_token_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inhibit_rule_versions"),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["inhibit_rules.rule_id"], name="fk_inhibit_rule_versions_rule_id_inhibit_rules"
        ),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_inhibit_rule_versions_tenant_tenants"),
        sa.UniqueConstraint("rule_id", "version", name="uq_inhibit_rule_versions_rule_id_version"),
    )


def downgrade() -> None:
    op.drop_table("inhibit_rule_versions")
    op.drop_index("ix_inhibit_rules_tenant_order", table_name="inhibit_rules")
    op.drop_table("inhibit_rules")
    op.drop_index("ix_silences_tenant_order", table_name="silences")
    op.drop_table("silences")
