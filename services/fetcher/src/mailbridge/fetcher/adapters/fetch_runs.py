"""The database side of one fetch run: its start (configuration, last outcome, lease, cursors)
and its end (outcome and lease release), each one transaction.

The lease (`FetchLease`) is taken by one upsert: a new row, or the expired row of an earlier
holder with its fencing token raised by one. Releasing expires the row instead of deleting it,
so an account's tokens only ever grow and a stalled holder's token can never come back.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbridge.common.db.mailstore import FetchLease, FetchState, FolderSyncState
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.db.types import utcnow
from mailbridge.common.endpoints import (
    IncomingProtocol,
    TlsMode,
    incoming_port,
    incoming_security,
    parse_host_port,
)
from mailbridge.common.secrets import SecretBox
from mailbridge.fetcher.model import INBOX, AccountConfig, Lease, LeaseLost
from mailbridge.fetcher.sync_plan import Cursor
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

RELEASED = datetime(1970, 1, 1, tzinfo=UTC)

# Given the account and its last outcome, why it must not be fetched now (None: go ahead).
Refusal = Callable[[AccountConfig, FetchState | None], str | None]


@dataclass(frozen=True)
class FetchStart:
    account: AccountConfig | None = None
    refusal: str | None = None
    lease: Lease | None = None  # None with an account and no refusal: another holder has it
    cursors: Mapping[str, Cursor] = field(default_factory=dict)


async def start(
    session: AsyncSession, secrets: SecretBox, account_id: uuid.UUID, holder: str, ttl: timedelta,
    refuse: Refusal,
) -> FetchStart:  # fmt: skip
    found = (
        await session.execute(
            select(MailAccount, MailServer, FetchState)
            .join(MailServer, MailServer.id == MailAccount.server_id)
            .outerjoin(FetchState, FetchState.account_id == MailAccount.id)
            .where(MailAccount.id == account_id)
        )
    ).one_or_none()
    if found is None:
        return FetchStart()
    account = _config(found[0], found[1], secrets)
    refusal = refuse(account, found[2])
    if refusal is not None:
        return FetchStart(account, refusal)
    lease = await take_lease(session, account_id, holder, ttl)
    if lease is None:
        return FetchStart(account)
    rows = await session.scalars(select(FolderSyncState).where(FolderSyncState.account_id == account_id))
    cursors = {row.folder: Cursor(row.uidvalidity, row.last_uid, row.highest_modseq) for row in rows}
    return FetchStart(account, None, lease, cursors)


async def end(session: AsyncSession, lease: Lease, outcome: Mapping[str, Any] | None) -> None:
    """Record the outcome (when there is one) and release the lease."""
    if outcome is not None:
        updated = await session.execute(
            update(FetchState).where(FetchState.account_id == lease.account_id).values(**outcome)
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            session.add(FetchState(account_id=lease.account_id, **outcome))
    await release_lease(session, lease)


async def take_lease(
    session: AsyncSession, account_id: uuid.UUID, holder: str, ttl: timedelta
) -> Lease | None:
    now = utcnow()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    taken = await session.scalar(
        dialect.insert(FetchLease)
        .values(account_id=account_id, holder=holder, token=1, expires_at=now + ttl)
        .on_conflict_do_update(
            index_elements=[FetchLease.account_id],
            set_={"holder": holder, "token": FetchLease.token + 1, "expires_at": now + ttl},
            where=FetchLease.expires_at < now,
        )
        .returning(FetchLease.token)
    )
    return None if taken is None else Lease(account_id, holder, taken)


async def release_lease(session: AsyncSession, lease: Lease) -> None:
    await session.execute(
        update(FetchLease)
        .where(FetchLease.account_id == lease.account_id, FetchLease.token == lease.token)
        .values(expires_at=RELEASED)
    )


async def fence(session: AsyncSession, lease: Lease, ttl: timedelta) -> None:
    """Renew the lease by its token in the caller's transaction, or fail: it was taken over."""
    renewed = await session.execute(
        update(FetchLease)
        .where(
            FetchLease.account_id == lease.account_id,
            FetchLease.token == lease.token,
            FetchLease.holder == lease.holder,
        )
        .values(expires_at=utcnow() + ttl)
    )
    if renewed.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"lease {lease.token} on account {lease.account_id} was taken over")


async def account_config(
    session: AsyncSession, secrets: SecretBox, account_id: uuid.UUID
) -> AccountConfig | None:
    account = await session.get(MailAccount, account_id)
    if account is None:
        return None
    server = await session.get(MailServer, account.server_id)
    assert server is not None
    return _config(account, server, secrets)


def _config(account: MailAccount, server: MailServer, secrets: SecretBox) -> AccountConfig:
    protocol = IncomingProtocol(server.incoming_protocol)
    endpoint = parse_host_port(server.incoming_host)
    mode = TlsMode(server.incoming_tls_mode)
    password = account.password_encrypted
    return AccountConfig(
        account_id=account.id,
        business_unit_id=account.business_unit_id,
        protocol=protocol,
        host=endpoint.host,
        port=incoming_port(endpoint, protocol, server.incoming_tls),
        security=incoming_security(endpoint, protocol, server.incoming_tls, mode),
        login=account.login,
        password=secrets.decrypt(password) if password else None,
        uses_oauth=server.oauth_provider_id is not None,
        inbox_folder=account.inbox_folder or INBOX,
        sync_folders=tuple(account.sync_folders or ()),
        delete_after_fetch=server.delete_after_fetch,
        delete_after_days=server.delete_after_days,
        can_receive=account.can_receive,
        config_version=f"{account.version}.{server.version}",
        trash_folder=account.trash_folder or server.trash_folder or "Trash",
        spam_folder=account.spam_folder or server.spam_folder or "Junk",
    )
