"""Events (alert episodes with ack, feedback, notifications and history) and the transitions applied to them.

Revision ID: 0002_events
Revises: 0001_initial
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON, UTCDateTime

revision: str = "0002_events"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("rule_name", sa.String(200), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("trigger_type", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("payload", PortableJSON, nullable=False),
        sa.Column("explanation", PortableJSON, nullable=False),
        sa.Column("value", PortableJSON, nullable=True),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("acked_at", UTCDateTime(), nullable=True),
        sa.Column("notifications", PortableJSON, nullable=False),
        sa.Column("history", PortableJSON, nullable=False),
        sa.Column("feedback_label", sa.String(32), nullable=True),
        sa.Column("feedback_note", sa.Text(), nullable=True),
        sa.Column("feedback_by", sa.String(200), nullable=True),
        sa.Column("feedback_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_events"),
    )
    op.create_index("ix_events_tenant_fired", "events", ["tenant", "fired_at", "event_id"])
    op.create_index("ix_events_tenant_rule_fired", "events", ["tenant", "rule_id", "fired_at"])
    op.create_index("ix_events_tenant_status_fired", "events", ["tenant", "status", "fired_at"])
    op.create_index("ix_events_tenant_severity_fired", "events", ["tenant", "severity", "fired_at"])
    op.create_table(
        "transitions",
        sa.Column("transition_id", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("data", PortableJSON, nullable=False),
        sa.Column("fed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("transition_id", name="pk_transitions"),
    )
    op.create_index("ix_transitions_event_at", "transitions", ["event_id", "at"])
    op.create_index("ix_transitions_fed_recorded", "transitions", ["fed", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_transitions_fed_recorded", table_name="transitions")
    op.drop_index("ix_transitions_event_at", table_name="transitions")
    op.drop_table("transitions")
    op.drop_index("ix_events_tenant_severity_fired", table_name="events")
    op.drop_index("ix_events_tenant_status_fired", table_name="events")
    op.drop_index("ix_events_tenant_rule_fired", table_name="events")
    op.drop_index("ix_events_tenant_fired", table_name="events")
    op.drop_table("events")
