"""#18: webhook endpoints, their deliveries, and the private-targets setting

Reserved while this stop's work is in flight: filled in by the change it is named for.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
