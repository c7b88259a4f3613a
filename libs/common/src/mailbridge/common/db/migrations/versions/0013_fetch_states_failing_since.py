"""#15: when an account's fetching began to fail (fetch_states.failing_since), for health

Reserved while this stop's work is in flight: filled in by the change it is named for.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
