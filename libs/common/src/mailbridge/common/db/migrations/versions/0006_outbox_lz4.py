"""The outbox's large values compressed with lz4 on PostgreSQL

The sent bytes (`outbox_messages.raw`), the request (which holds the text and html bodies) and
attachment data are written once per mail; as with `messages.raw` (0005), pglz cost PostgreSQL
several times lz4's CPU for them. Rows written from now on; a server without lz4 keeps its
default; SQLite does not compress.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("outbox_messages", "raw"), ("outbox_messages", "request"), ("outbox_attachments", "data"))
_SET_COMPRESSION = """
DO $$
BEGIN
    EXECUTE 'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}';
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    RAISE NOTICE '{table}.{column} keeps the default compression: %', SQLERRM;
END
$$
"""


def _set(method: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _COLUMNS:
            op.execute(_SET_COMPRESSION.format(table=table, column=column, method=method))


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("DEFAULT")
