"""IDLE leases in SQL (#18, `idle_leases`): which replica holds an account's IDLE connection.

Taken like a fetch lease (`leases`): one upsert, a new row or the expired row of an earlier
holder with its token raised by one. Renewed and released per holder, all of a replica's
accounts in one statement (a chunk of them on a very large replica), so holding a thousand
connections costs one UPDATE every third of the TTL. Released rows expire instead of vanishing.
"""

import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import lru_cache
from typing import cast

from mailbridge.common.db.mailstore import IdleLease, IdleReplica
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.common.secrets import SecretBox
from mailbridge.fetcher.adapters import fetch_runs
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.adapters.leases import RELEASED
from mailbridge.fetcher.idle_ports import Candidate, Census
from mailbridge.fetcher.model import AccountConfig
from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CHUNK = 500  # accounts per renewal or release statement
IMAP = (IncomingProtocol.IMAP.value, IncomingProtocol.IMAP_DOWNLOAD.value)

_LEASE, _ACCOUNT, _SERVER = (cast(Table, t.__table__) for t in (IdleLease, MailAccount, MailServer))
_HOLDER = bindparam("p_holder", type_=_LEASE.c.holder.type)
_EXPIRES = bindparam("p_expires", type_=_LEASE.c.expires_at.type)
_NOW = bindparam("p_now", type_=_LEASE.c.expires_at.type)
_IDS = bindparam("p_ids", expanding=True, type_=_LEASE.c.account_id.type)

TAKE = by_dialect(
    lambda insert: (
        insert(_LEASE)
        .values(account_id=bindparam("p_account", type_=_LEASE.c.account_id.type), holder=_HOLDER, token=1,
                expires_at=_EXPIRES)
        .on_conflict_do_update(
            index_elements=[_LEASE.c.account_id],
            set_={"holder": _HOLDER, "token": _LEASE.c.token + 1, "expires_at": _EXPIRES},
            where=_LEASE.c.expires_at < _NOW,
        )
        .returning(_LEASE.c.token)
    )
)  # fmt: skip
_MINE = (_LEASE.c.holder == _HOLDER) & _LEASE.c.account_id.in_(_IDS)
RENEW = update(_LEASE).where(_MINE).values(expires_at=_EXPIRES).returning(_LEASE.c.account_id)
RELEASE = update(_LEASE).where(_MINE).values(expires_at=RELEASED)
PUSHABLE = (
    select(_ACCOUNT.c.id, _ACCOUNT.c.version, _SERVER.c.version.label("server_version"))
    .join_from(_ACCOUNT, _SERVER, _SERVER.c.id == _ACCOUNT.c.server_id)
    .where(
        _SERVER.c.incoming_protocol.in_(IMAP), _SERVER.c.push.is_(True), _ACCOUNT.c.can_receive.is_(True),
        or_(_SERVER.c.oauth_provider_id.is_(None), _ACCOUNT.c.oauth_state == "connected"),
    )
)  # fmt: skip
CANDIDATES = (
    PUSHABLE.outerjoin(_LEASE, _LEASE.c.account_id == _ACCOUNT.c.id)
    .where(or_(_LEASE.c.account_id.is_(None), _LEASE.c.expires_at < _NOW))
    .limit(bindparam("p_limit"))
)
AMONG = PUSHABLE.where(_ACCOUNT.c.id.in_(_IDS))
_HOLDERS = cast(Table, IdleReplica.__table__)
_SEEN = bindparam("p_seen", type_=_HOLDERS.c.seen_at.type)
SEEN = by_dialect(
    lambda insert: (
        insert(_HOLDERS)
        .values(holder=_HOLDER, seen_at=_SEEN)
        .on_conflict_do_update(index_elements=[_HOLDERS.c.holder], set_={"seen_at": _SEEN})
    )
)
LIVE = select(func.count()).select_from(_HOLDERS).where(_HOLDERS.c.seen_at >= bindparam("p_since"))
FORGET = delete(_HOLDERS).where(_HOLDERS.c.seen_at < bindparam("p_long_ago"))
LEAVE = delete(_HOLDERS).where(_HOLDERS.c.holder == _HOLDER)
COUNT_PUSHABLE = select(func.count()).select_from(PUSHABLE.subquery())
FORGET_AFTER = 10  # lease TTLs after which a replica's row is deleted


class IdleLeaseStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox) -> None:
        self._sessions = sessions
        self._decrypt = lru_cache(maxsize=1024)(secrets.decrypt)

    async def candidates(self, limit: int) -> list[Candidate]:
        """Up to `limit` accounts that may be pushed and whose IDLE lease is free."""
        async with self._sessions() as session:
            rows = await session.execute(CANDIDATES, {"p_now": utcnow(), "p_limit": limit})
            return [Candidate(row.id, f"{row.version}.{row.server_version}") for row in rows]

    async def pushable(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        found: dict[uuid.UUID, str] = {}
        async with self._sessions() as session:
            for chunk in _chunks(account_ids):
                for row in await session.execute(AMONG, {"p_ids": chunk}):
                    found[row.id] = f"{row.version}.{row.server_version}"
        return found

    async def census(self, holder: str, ttl: timedelta) -> Census:
        async with self._transaction() as session:
            now = utcnow()
            await session.execute(SEEN[session.get_bind().dialect.name], {"p_holder": holder, "p_seen": now})
            await session.execute(FORGET, {"p_long_ago": now - FORGET_AFTER * ttl})
            replicas = await session.scalar(LIVE, {"p_since": now - ttl})
            accounts = await session.scalar(COUNT_PUSHABLE)
            return Census(int(replicas or 1), int(accounts or 0))

    async def leave(self, holder: str) -> None:
        async with self._transaction() as session:
            await session.execute(LEAVE, {"p_holder": holder})

    async def account(self, account_id: uuid.UUID) -> AccountConfig | None:
        async with self._sessions() as session:
            return await fetch_runs.account_config(session, self._decrypt, account_id)

    async def take(self, account_id: uuid.UUID, holder: str, ttl: timedelta) -> bool:
        async with self._transaction() as session:
            now = utcnow()
            values = {"p_account": account_id, "p_holder": holder, "p_expires": now + ttl, "p_now": now}
            taken = await session.scalar(TAKE[session.get_bind().dialect.name], values)
            return taken is not None

    async def renew(self, holder: str, account_ids: Collection[uuid.UUID], ttl: timedelta) -> set[uuid.UUID]:
        """The accounts among `account_ids` whose lease `holder` still has, renewed for `ttl`."""
        kept: set[uuid.UUID] = set()
        async with self._transaction() as session:
            for chunk in _chunks(account_ids):
                values = {"p_holder": holder, "p_ids": chunk, "p_expires": utcnow() + ttl}
                kept.update((await session.scalars(RENEW, values)).all())
        return kept

    async def release(self, holder: str, account_ids: Collection[uuid.UUID]) -> None:
        async with self._transaction() as session:
            for chunk in _chunks(account_ids):
                await session.execute(RELEASE, {"p_holder": holder, "p_ids": chunk})

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session


def _chunks(account_ids: Collection[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    ids = list(account_ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
