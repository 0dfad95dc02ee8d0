"""The first schema: tenants, tokens, rules, rule versions and the audit log.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tenants"),
    )
    op.create_table(
        "tokens",
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name="pk_tokens"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_tokens_tenant_tenants"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_index("ix_tokens_tenant_created", "tokens", ["tenant", "created_at"])
    op.create_table(
        "rules",
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("trigger_type", sa.String(16), nullable=False),
        sa.Column("spec", PortableJSON, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("simulation_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_simulated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", name="pk_rules"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_rules_tenant_tenants"),
    )
    op.create_index("ix_rules_tenant_order", "rules", ["tenant", "created_at", "rule_id"])
    op.create_index(
        "uq_rules_tenant_live_name",
        "rules",
        ["tenant", "name"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("rule", PortableJSON, nullable=False),
        sa.Column("actor_token_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rule_versions"),
        sa.ForeignKeyConstraint(["rule_id"], ["rules.rule_id"], name="fk_rule_versions_rule_id_rules"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_rule_versions_tenant_tenants"),
        sa.UniqueConstraint("rule_id", "version", name="uq_rule_versions_rule_id_version"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("actor_token_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("resource_kind", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("change", PortableJSON, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_tenant_id", "audit_log", ["tenant", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_tenant_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("rule_versions")
    op.drop_index("uq_rules_tenant_live_name", table_name="rules")
    op.drop_index("ix_rules_tenant_order", table_name="rules")
    op.drop_table("rules")
    op.drop_index("ix_tokens_tenant_created", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("tenants")
