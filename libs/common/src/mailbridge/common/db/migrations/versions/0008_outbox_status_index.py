"""An index on the outbox's status and last change, for the sweep of unfinished mail

The sender looks for rows left `queued` with no command on its way, and for `sending` rows whose
claim is no longer renewed (their sender died), every few seconds on every replica. The sent
rows stay in the table for ever (G6), so without this index each look read the whole table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_status_updated_at", ["status", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_updated_at")
