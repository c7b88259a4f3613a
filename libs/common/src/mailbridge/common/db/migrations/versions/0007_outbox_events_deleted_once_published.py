"""Outbox events are deleted once published, not marked

The relay marked each published event with `published_at` and nothing ever removed it, so the
table grew by a row for every fetched and every sent mail, for ever, and each relay pass read
through the marked rows' index and dead versions. JetStream keeps the published events (the
EVENTS stream, seven days); the table now holds only what is still to be published. Events
already published are removed here.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 08:00:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM outbox_events WHERE published_at IS NOT NULL")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_published_at"))
        batch_op.drop_column("published_at")


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("published_at", mailbridge.common.db.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_outbox_events_published_at"), ["published_at"], unique=False)
