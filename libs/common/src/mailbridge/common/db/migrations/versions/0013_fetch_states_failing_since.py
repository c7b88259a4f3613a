"""#15: when an account's fetching began to fail (fetch_states.failing_since), for health

Set by the fetcher when a fetch fails after a success (or first), kept while fetches keep
failing, cleared by the next ok or partial fetch. Accounts failing at the upgrade get the finish
time of the failed fetch on record, what account health showed for them before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import mailbridge.common.db.types
import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fetch_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", mailbridge.common.db.types.UtcDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE fetch_states SET failing_since = last_finished_at WHERE status = 'failed'")


def downgrade() -> None:
    with op.batch_alter_table("fetch_states", schema=None) as batch_op:
        batch_op.drop_column("failing_since")
