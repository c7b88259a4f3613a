"""The outbox row keeps the trace context of the step that wrote it

An event or command committed to `outbox_events` is published later by the relay, outside the
request or command that wrote it; `traceparent` (W3C, nullable: rows written outside any traced
step have none) lets the relay publish it with its writer's trace context as a NATS header, so
one request can be followed from the API through the fetcher or sender (common.tracing).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 17:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
