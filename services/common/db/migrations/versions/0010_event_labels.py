"""Events carry the labels of their episode and their rendered annotations (`{}` for the events before them).

Revision ID: 0010_event_labels
Revises: 0009_silences
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.common.db.types import PortableJSON

revision: str = "0010_event_labels"
down_revision: str | None = "0009_silences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("labels", PortableJSON, server_default=sa.text("'{}'"), nullable=False))
        batch.add_column(sa.Column("annotations", PortableJSON, server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("annotations")
        batch.drop_column("labels")
