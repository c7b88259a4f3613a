"""Custody in SQL (oauth_grants, mail_accounts.oauth_state): the encrypted token cache per
account, the refresh lock, and the account's state changes with their events in the same
transaction (the outbox). See common/db/oauth_grants.py for the tables' contract.

The refresh lock is an UPDATE of the grant row before anything is read: a row lock on
PostgreSQL, the database's write lock on SQLite (a transaction that read first could not
become a writer there once another process wrote). The transaction then re-reads the grant,
and whoever comes second sees the first one's refreshed token.
"""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from mailbridge.common.db.oauth_grants import OAuthGrant
from mailbridge.common.db.tables import MailAccount, MailServer, OAuthProvider
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import AccountStateChanged, TokenRefreshed
from mailbridge.common.outbox_relay import enqueue
from mailbridge.common.secrets import SecretBox
from mailbridge.oauth_broker.model import AccountView, Custody, Grant, Tokens
from mailbridge.oauth_broker.providers import ProviderRow
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_CUSTODY = (
    select(
        MailAccount.id,
        MailAccount.login,
        MailAccount.oauth_state,
        MailAccount.oauth_reason,
        OAuthProvider.id.label("provider_id"),
        OAuthProvider.server_type,
        OAuthProvider.use_default_settings,
        OAuthProvider.authority,
        OAuthProvider.tenant,
        OAuthProvider.client_id,
        OAuthProvider.client_secret_encrypted,
        OAuthProvider.scopes,
        OAuthGrant.token_cache_encrypted,
        OAuthGrant.refreshed_at,
        OAuthGrant.revision,
    )
    .select_from(MailAccount)
    .join(MailServer, MailServer.id == MailAccount.server_id)
    .outerjoin(OAuthProvider, OAuthProvider.id == MailServer.oauth_provider_id)
    .outerjoin(OAuthGrant, OAuthGrant.account_id == MailAccount.id)
)


async def _read(session: AsyncSession, secrets: SecretBox, account_id: uuid.UUID) -> Custody:
    row = (await session.execute(_CUSTODY.where(MailAccount.id == account_id))).one_or_none()
    if row is None:
        return Custody(None, None)
    provider = None
    if row.provider_id is not None:
        secret = secrets.decrypt(row.client_secret_encrypted) if row.client_secret_encrypted else None
        provider = ProviderRow(
            row.server_type,
            row.use_default_settings,
            row.authority,
            row.tenant,
            row.client_id,
            secret,
            _scopes(row.scopes),
        )
    account = AccountView(row.id, row.login, row.oauth_state, row.oauth_reason, provider)
    grant = None
    if row.token_cache_encrypted is not None:
        grant = Grant(secrets.decrypt(row.token_cache_encrypted), row.refreshed_at, row.revision)
    return Custody(account, grant)


def _scopes(stored: object) -> tuple[str, ...]:
    listed = json.loads(stored) if isinstance(stored, str) else stored
    return tuple(str(scope) for scope in listed) if isinstance(listed, list) else ()


async def _set_state(session: AsyncSession, account_id: uuid.UUID, state: str, reason: str | None) -> None:
    # The version moves with the row, as every change of a configuration row does (S13).
    await session.execute(
        update(MailAccount)
        .where(MailAccount.id == account_id)
        .values(oauth_state=state, oauth_reason=reason, version=MailAccount.version + 1)
    )


class _LockedGrant:
    def __init__(
        self, session: AsyncSession, secrets: SecretBox, custody: Custody, account_id: uuid.UUID
    ) -> None:
        self._session = session
        self._secrets = secrets
        self._account_id = account_id
        self.custody = custody

    async def save(self, tokens: Tokens) -> None:
        await self._session.execute(
            update(OAuthGrant)
            .where(OAuthGrant.account_id == self._account_id)
            .values(
                token_cache_encrypted=self._secrets.encrypt(tokens.cache_json),
                access_expires_at=tokens.expires_at,
                refreshed_at=utcnow(),
                revision=OAuthGrant.revision + 1,
            )
        )
        enqueue(self._session, TokenRefreshed(account_id=self._account_id, expires_at=tokens.expires_at))

    async def revoke(self, reason: str) -> None:
        await self._session.execute(delete(OAuthGrant).where(OAuthGrant.account_id == self._account_id))
        await _set_state(self._session, self._account_id, "needs_reconnect", reason)
        enqueue(
            self._session,
            AccountStateChanged(account_id=self._account_id, state="needs_reconnect", reason=reason),
        )


class SqlGrants:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox) -> None:
        self._sessions = sessions
        self._secrets = secrets

    async def custody(self, account_id: uuid.UUID) -> Custody:
        async with self._sessions() as session:
            return await _read(session, self._secrets, account_id)

    @asynccontextmanager
    async def locked(self, account_id: uuid.UUID) -> AsyncIterator[_LockedGrant]:
        async with self._sessions() as session, session.begin():
            take = (
                update(OAuthGrant)
                .where(OAuthGrant.account_id == account_id)
                .values(revision=OAuthGrant.revision)
            )
            await session.execute(take)
            custody = await _read(session, self._secrets, account_id)
            yield _LockedGrant(session, self._secrets, custody, account_id)

    async def connect(self, account_id: uuid.UUID, tokens: Tokens) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(delete(OAuthGrant).where(OAuthGrant.account_id == account_id))
            session.add(
                OAuthGrant(
                    account_id=account_id,
                    token_cache_encrypted=self._secrets.encrypt(tokens.cache_json),
                    access_expires_at=tokens.expires_at,
                    refreshed_at=utcnow(),
                    revision=0,
                )
            )
            await _set_state(session, account_id, "connected", None)
            enqueue(session, AccountStateChanged(account_id=account_id, state="ok"))
            enqueue(session, TokenRefreshed(account_id=account_id, expires_at=tokens.expires_at))

    async def stale(self, refreshed_before: datetime, limit: int) -> list[uuid.UUID]:
        query = (
            select(OAuthGrant.account_id)
            .where(OAuthGrant.refreshed_at < refreshed_before)
            .order_by(OAuthGrant.refreshed_at)
            .limit(limit)
        )
        async with self._sessions() as session:
            return list((await session.execute(query)).scalars())
