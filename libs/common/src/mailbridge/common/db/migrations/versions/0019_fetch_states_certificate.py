"""#17: the certificate a failed verification met (fetch_states.certificate_sha256)

The SHA-256 fingerprint (hex) of the certificate the server presented when a fetch failed with the
certificate verdict; automatic fetches of the account stay held back until the server presents
another certificate or the configuration changes (fetcher `certificate_hold`). Accounts failed by
a certificate before the upgrade have none recorded and wait for a configuration change, as before.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fetch_states", schema=None) as batch_op:
        batch_op.drop_column("certificate_sha256")
