"""#17: the sending decisions (recipients' states on an outbox item, plaintext-auth allowance)

- `outbox_messages.recipient_states`: every recipient's state so far (accepted, refused
  temporarily, refused permanently, each with the server's reply), so a retry sends only to the
  recipients still refused temporarily, never again to those that got 250. Rows sent before keep
  `recipient_results` (the refused recipients only); the API reads that where no state is stored.
- `outbox_messages.request_sha256`: the mail as requested, hashed, kept with its Idempotency-Key:
  the same key with another mail is refused (422). Older rows have none and answer as before.
- `mail_servers.allow_plaintext_auth`: AUTH over `smtp_encryption: none` to a host that is not
  on loopback only when an admin says so (S4); false for every existing row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recipient_states", sa.JSON(), server_default=sa.text("'{}'"), nullable=False)
        )
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))
    with op.batch_alter_table("mail_servers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("allow_plaintext_auth", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+) rather than batch mode, which would copy
    # outbox_messages and lose its G6 triggers (0014)
    op.drop_column("mail_servers", "allow_plaintext_auth")
    op.drop_column("outbox_messages", "request_sha256")
    op.drop_column("outbox_messages", "recipient_states")
