"""Messages removed on the IMAP server: when the fetcher saw them gone (S7 "synchronised")

A message expunged on the server by another client (Outlook, a phone, a webmail) stays stored:
its bytes are kept, and `removed_on_server_at` says since when the server no longer has it. The
partial index holds the messages still on the server by their IMAP identity: a poll that sees a
folder changed counts them (against SELECT's EXISTS) and, when the counts differ, reads their
UIDs; both are answered from the index alone, and removed messages leave it. The folder's sync
state keeps how the last such look left it (`checked_last_uid`, `checked_exists`, and
`unstored`: messages on the server that are not stored, skipped as too large), so an unchanged
folder costs nothing and skipped messages cannot hide as many removals.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ON_SERVER = sa.text("removed_on_server_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "removed_on_server_at", mailbridge.common.db.types.UtcDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            "ix_messages_on_server",
            ["account_id", "folder", "uidvalidity", "uid"],
            unique=False,
            sqlite_where=_ON_SERVER,
            postgresql_where=_ON_SERVER,
        )
    with op.batch_alter_table("folder_sync_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked_last_uid", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("checked_exists", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("unstored", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("folder_sync_states", schema=None) as batch_op:
        batch_op.drop_column("unstored")
        batch_op.drop_column("checked_exists")
        batch_op.drop_column("checked_last_uid")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_on_server")
        batch_op.drop_column("removed_on_server_at")
