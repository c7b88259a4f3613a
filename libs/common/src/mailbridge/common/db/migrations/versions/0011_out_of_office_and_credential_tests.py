"""Out-of-office (A12): settings, replied messages, correspondents; credential tests (T1, O5)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:15:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = mailbridge.common.db.types.UtcDateTime(timezone=True)
_RUNNING = sa.text("status = 'running'")


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["mail_accounts.id"],
        name=op.f(f"fk_{table}_account_id_mail_accounts"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "out_of_office",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("starts_at", _WHEN, nullable=True),
        sa.Column("ends_at", _WHEN, nullable=True),
        sa.Column("reply_interval_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        _account_fk("out_of_office"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_out_of_office")),
    )
    op.create_table(
        "auto_replied_messages",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("outbox_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", _WHEN, nullable=False),
        _account_fk("auto_replied_messages"),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_auto_replied_messages_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_auto_replied_messages")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_auto_replied_messages_account_id"), "auto_replied_messages", ["account_id"], unique=False
    )
    op.create_table(
        "auto_reply_correspondents",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("correspondent", sa.String(length=320), nullable=False),
        sa.Column("last_replied_at", _WHEN, nullable=False),
        _account_fk("auto_reply_correspondents"),
        sa.PrimaryKeyConstraint("account_id", "correspondent", name=op.f("pk_auto_reply_correspondents")),
    )
    op.create_table(
        "credential_tests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("finished_at", _WHEN, nullable=True),
        _account_fk("credential_tests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_tests")),
    )
    op.create_index(
        "ix_credential_tests_account_started", "credential_tests", ["account_id", "started_at"], unique=False
    )
    op.create_index(
        "uq_credential_tests_running", "credential_tests", ["account_id"], unique=True,
        sqlite_where=_RUNNING, postgresql_where=_RUNNING,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("uq_credential_tests_running", table_name="credential_tests")
    op.drop_index("ix_credential_tests_account_started", table_name="credential_tests")
    op.drop_table("credential_tests")
    op.drop_table("auto_reply_correspondents")
    op.drop_index(op.f("ix_auto_replied_messages_account_id"), table_name="auto_replied_messages")
    op.drop_table("auto_replied_messages")
    op.drop_table("out_of_office")
