"""#17: provider limits on mail servers and the retry schedule of an outbox item

mail_servers: `limits_preset` (microsoft365, gmail or null) and one nullable column per limit that
overrides it (common/provider_limits.py). outbox_messages: `next_attempt_at` and `retry_reason`
(the retry schedule: when, and which kind of answer chose the backoff) and `gave_up_at`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from mailbridge.common.db.types import UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMITS = (
    "smtp_connections_per_login",
    "imap_connections_per_login",
    "messages_per_minute_per_mailbox",
    "messages_per_day_per_mailbox",
    "recipients_per_day_per_mailbox",
    "messages_per_minute_per_server",
)
SCHEDULE = ("next_attempt_at", "retry_reason", "gave_up_at")


def upgrade() -> None:
    with op.batch_alter_table("mail_servers") as batch:
        batch.add_column(sa.Column("limits_preset", sa.String(20), nullable=True))
        for name in LIMITS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("next_attempt_at", UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retry_reason", sa.String(20), nullable=True))
        batch.add_column(sa.Column("gave_up_at", UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        for name in reversed(SCHEDULE):
            batch.drop_column(name)
    with op.batch_alter_table("mail_servers") as batch:
        for name in reversed(LIMITS):
            batch.drop_column(name)
        batch.drop_column("limits_preset")
