"""OAuth custody (O4): one encrypted msal token cache per account, the flows in progress, and
why an account needs reconnecting

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:10:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = mailbridge.common.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oauth_grants",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("token_cache_encrypted", sa.Text(), nullable=False),
        sa.Column("access_expires_at", _WHEN, nullable=True),
        sa.Column("refreshed_at", _WHEN, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["mail_accounts.id"],
            name=op.f("fk_oauth_grants_account_id_mail_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_oauth_grants")),
    )
    op.create_index(op.f("ix_oauth_grants_refreshed_at"), "oauth_grants", ["refreshed_at"], unique=False)
    op.create_table(
        "oauth_flows",
        sa.Column("state", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("flow_encrypted", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=True),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["mail_accounts.id"],
            name=op.f("fk_oauth_flows_account_id_mail_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_oauth_flows")),
    )
    op.create_index(op.f("ix_oauth_flows_account_id"), "oauth_flows", ["account_id"], unique=False)
    op.create_index(op.f("ix_oauth_flows_expires_at"), "oauth_flows", ["expires_at"], unique=False)
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oauth_reason", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_accounts", schema=None) as batch_op:
        batch_op.drop_column("oauth_reason")
    op.drop_index(op.f("ix_oauth_flows_expires_at"), table_name="oauth_flows")
    op.drop_index(op.f("ix_oauth_flows_account_id"), table_name="oauth_flows")
    op.drop_table("oauth_flows")
    op.drop_index(op.f("ix_oauth_grants_refreshed_at"), table_name="oauth_grants")
    op.drop_table("oauth_grants")
