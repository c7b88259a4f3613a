"""Rows written straight to the database, for tests and benchmarks that start below the HTTP
API: one owner, one mail server and one account on it; such an account turned into an OAuth one;
and a way to empty every table."""

import uuid
from dataclasses import dataclass
from typing import Any

from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.outbox_lock import create_lock_triggers, drop_lock_triggers
from mailbridge.common.db.schema import metadata
from mailbridge.common.db.tables import MailAccount, MailServer, OAuthProvider, User
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class AccountRows:
    account_id: uuid.UUID
    server_id: uuid.UUID
    owner_id: uuid.UUID


async def add_account(
    sessions: async_sessionmaker[AsyncSession],
    *,
    smtp_host: str = "127.0.0.1:25",
    incoming_host: str = "127.0.0.1:1",
    incoming_protocol: str = "pop3",
    login: str = "user",
    address: str = "user@example.com",
    password_encrypted: str | None = None,
    server: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
) -> AccountRows:
    """Defaults: SMTP without TLS or AUTH; `server` and `account` override any column."""
    async with sessions() as session:
        owner = User(name="Owner", email=f"{uuid.uuid4().hex}@example.com")
        server_row = MailServer(
            **{
                "name": f"server-{uuid.uuid4().hex}",
                "smtp_host": smtp_host,
                "smtp_encryption": "none",
                "smtp_auth": False,
                "incoming_protocol": incoming_protocol,
                "incoming_host": incoming_host,
            }
            | (server or {})
        )
        session.add_all([owner, server_row])
        await session.flush()
        account_row = MailAccount(
            owner_user_id=owner.id, server_id=server_row.id, login=login, address=address,
            password_encrypted=password_encrypted, **(account or {}),
        )  # fmt: skip
        session.add(account_row)
        await session.commit()
        return AccountRows(account_row.id, server_row.id, owner.id)


async def make_oauth(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, state: str = "connected"
) -> None:
    """Turn an account written with a password into one on a server with an OAuth provider (S2):
    no password (A3), `state` as the broker would have recorded it (O4)."""
    async with sessions() as session:
        account = await session.get(MailAccount, account_id)
        assert account is not None
        server = await session.get(MailServer, account.server_id)
        assert server is not None
        provider = OAuthProvider(
            name=f"m365-{uuid.uuid4().hex}", server_type="microsoft365_email", use_default_settings=True
        )
        session.add(provider)
        await session.flush()
        server.oauth_provider_id = provider.id
        account.password_encrypted = None
        account.oauth_state = state
        await session.commit()


async def empty_tables(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Delete every row of every table (children first): a clean slate on a migrated database.
    Sealed outbox rows (G6) are refused by the database's triggers, so while there are any the
    triggers are dropped for the clean-up and created again in the same transaction."""
    async with sessions() as session:
        connection = await session.connection()
        locked = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.locked).limit(1))
        if locked is not None:
            await drop_lock_triggers(connection)
        for table in reversed(metadata.sorted_tables):
            await session.execute(delete(table))
        if locked is not None:
            await create_lock_triggers(connection)
        await session.commit()
