"""#18: IMAP IDLE push (mail_servers.push, idle_leases)

`mail_servers.push` (default true): the server's IMAP accounts keep an IDLE connection; false
opts them out (polled only). `idle_leases`: which fetcher replica holds an account's IDLE
connection, leased like fetch work (holder, fencing token, expiry); `idle_replicas`: the replicas
holding IDLE connections and when each was last seen (for each one's share of the accounts).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mail_servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("push", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        "idle_leases",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", mailbridge.common.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["mail_accounts.id"],
            name=op.f("fk_idle_leases_account_id_mail_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_idle_leases")),
    )
    with op.batch_alter_table("idle_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idle_leases_holder"), ["holder"], unique=False)
    op.create_table(
        "idle_replicas",
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("seen_at", mailbridge.common.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder", name=op.f("pk_idle_replicas")),
    )


def downgrade() -> None:
    op.drop_table("idle_replicas")
    with op.batch_alter_table("idle_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idle_leases_holder"))
    op.drop_table("idle_leases")
    with op.batch_alter_table("mail_servers", schema=None) as batch_op:
        batch_op.drop_column("push")
