"""Notification policies per tenant (routing tree, receivers, time intervals) and their versions.

Revision ID: 0011_notification_policies
Revises: 0010_event_labels
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0011_notification_policies"
down_revision: str | None = "0010_event_labels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_policies",
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("document", PortableJSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("tenant", name="pk_notification_policies"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_notification_policies_tenant_tenants"),
    )
    op.create_table(
        "notification_policy_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("document", PortableJSON, nullable=True),
        sa.Column("actor_token_id", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_policy_versions"),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name="fk_notification_policy_versions_tenant_tenants"),
        sa.UniqueConstraint("tenant", "version", name="uq_notification_policy_versions_tenant_version"),
    )


def downgrade() -> None:
    op.drop_table("notification_policy_versions")
    op.drop_table("notification_policies")
