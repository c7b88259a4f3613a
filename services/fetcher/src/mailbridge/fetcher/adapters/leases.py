"""The fetch lease in SQL: at most one fetch per account, fenced by a token that only grows.

A lease is taken by one upsert: a new row, or the expired row of an earlier holder with its
fencing token raised by one. Releasing expires the row instead of deleting it, so an account's
tokens only ever grow and a stalled holder's token can never come back. Every write of a fetch
renews the lease by its token in the same transaction (`fence`), or fails with `LeaseLost`.

The statements are built once (per dialect for the upsert) and reused with bound values, so a
poll pays neither statement construction nor SQL compilation.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from mailbridge.common.db.mailstore import FetchLease
from mailbridge.common.db.types import utcnow
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.model import Lease, LeaseLost
from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

RELEASED = datetime(1970, 1, 1, tzinfo=UTC)

_LEASE = cast(Table, FetchLease.__table__)
ACCOUNT = bindparam("p_account", type_=_LEASE.c.account_id.type)
_HOLDER = bindparam("p_holder", type_=_LEASE.c.holder.type)
_TOKEN = bindparam("p_token", type_=_LEASE.c.token.type)
_EXPIRES = bindparam("p_expires", type_=_LEASE.c.expires_at.type)
_NOW = bindparam("p_now", type_=_LEASE.c.expires_at.type)

TAKE = by_dialect(
    lambda insert: (
        insert(_LEASE)
        .values(account_id=ACCOUNT, holder=_HOLDER, token=1, expires_at=_EXPIRES)
        .on_conflict_do_update(
            index_elements=[_LEASE.c.account_id],
            set_={"holder": _HOLDER, "token": _LEASE.c.token + 1, "expires_at": _EXPIRES},
            where=_LEASE.c.expires_at < _NOW,
        )
        .returning(_LEASE.c.token)
    )
)
_HELD = (_LEASE.c.account_id == ACCOUNT) & (_LEASE.c.token == _TOKEN)
RELEASE = update(_LEASE).where(_HELD).values(expires_at=_EXPIRES)
_RENEW = update(_LEASE).where(_HELD, _LEASE.c.holder == _HOLDER).values(expires_at=_EXPIRES)


async def take(session: AsyncSession, account_id: uuid.UUID, holder: str, ttl: timedelta) -> Lease | None:
    """The account's lease for `holder`, or None while another holder's lease has not expired."""
    taken = await session.scalar(TAKE[session.get_bind().dialect.name], take_values(account_id, holder, ttl))
    return None if taken is None else Lease(account_id, holder, taken)


def take_values(account_id: uuid.UUID, holder: str, ttl: timedelta) -> dict[str, Any]:
    now = utcnow()
    return {"p_account": account_id, "p_holder": holder, "p_expires": now + ttl, "p_now": now}


async def release(session: AsyncSession, lease: Lease) -> None:
    await session.execute(RELEASE, release_values(lease))


def release_values(lease: Lease) -> dict[str, Any]:
    return {"p_account": lease.account_id, "p_token": lease.token, "p_expires": RELEASED}


async def fence(session: AsyncSession, lease: Lease, ttl: timedelta) -> None:
    """Renew the lease by its token in the caller's transaction, or fail: it was taken over."""
    renewed = await session.execute(
        _RENEW,
        {"p_account": lease.account_id, "p_token": lease.token, "p_holder": lease.holder,
         "p_expires": utcnow() + ttl},
    )  # fmt: skip
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"lease {lease.token} on account {lease.account_id} was taken over")
