"""PostgreSQL: a fetch run's start and end in fewer round trips, by data-modifying CTEs.

The lease is taken and the cursors read in one statement, and the outcome recorded and the
lease released in another. Each statement is atomic by itself, so they run without BEGIN and
COMMIT (two more round trips each; `MailStore` sets autocommit). Under READ COMMITTED, as here,
every statement of a transaction saw a fresh snapshot anyway, so the configuration read before
the lease sees what it saw inside one transaction.
"""

import uuid
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any, cast

from mailbridge.common.db.mailstore import FolderSyncState
from mailbridge.fetcher.adapters import cursors, leases, outcomes
from mailbridge.fetcher.model import Lease
from mailbridge.fetcher.sync_plan import Cursor
from sqlalchemy import Table, Update, select
from sqlalchemy.ext.asyncio import AsyncSession

_CURSOR = cast(Table, FolderSyncState.__table__)
_TAKEN = leases.TAKE["postgresql"].cte("taken")
_TAKE_WITH_CURSORS = select(_TAKEN.c.token, *cursors.COLUMNS).select_from(
    _TAKEN.outerjoin(_CURSOR, _CURSOR.c.account_id == leases.ACCOUNT)
)


async def take_lease_with_cursors(
    session: AsyncSession, account_id: uuid.UUID, holder: str, ttl: timedelta
) -> tuple[Lease | None, dict[str, Cursor]]:
    """The lease (None: another holder has it) and, with it, the account's cursors."""
    rows = (await session.execute(_TAKE_WITH_CURSORS, leases.take_values(account_id, holder, ttl))).all()
    if not rows:
        return None, {}
    return Lease(account_id, holder, rows[0].token), cursors.by_folder(rows)


async def record_and_release(session: AsyncSession, lease: Lease, outcome: Mapping[str, Any]) -> None:
    """Record the outcome and release the lease, in one statement."""
    statement = _record_and_release(outcomes.columns(outcome))
    await session.execute(statement, leases.release_values(lease) | outcomes.bound_values(outcome))


@cache
def _record_and_release(columns: tuple[str, ...]) -> Update:
    return leases.RELEASE.add_cte(outcomes.record(columns)["postgresql"].cte("recorded"))
