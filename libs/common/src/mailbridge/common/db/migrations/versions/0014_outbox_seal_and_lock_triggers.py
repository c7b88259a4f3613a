"""#17 (G6): keyed seals on the outbox chain and triggers refusing UPDATE/DELETE of locked rows

- `outbox_messages.seal_key_id`: the id of the seal key (MAILBRIDGE_SEAL_KEY) whose HMAC is in
  `chain_hash`; rows sealed before keep none (a plain SHA-256 link, accepted only as the chain's
  beginning).
- triggers on PostgreSQL and SQLite refusing UPDATE and DELETE of locked rows (db/outbox_lock.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from mailbridge.common.db.outbox_lock import CREATE, DROP

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox_messages", sa.Column("seal_key_id", sa.String(length=16), nullable=True))
    for statement in CREATE[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_column("outbox_messages", "seal_key_id")
