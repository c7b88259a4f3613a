"""Helpers for the fetcher tests: a migrated store on each backend, accounts on the real stack."""

import poplib
import ssl
import uuid
from dataclasses import dataclass

from mailbridge.common.db.mailstore import OutboxEvent, StoredMessage
from mailbridge.common.db.tables import MailAccount, MailServer, User
from mailbridge.common.endpoints import IncomingProtocol, TransportSecurity
from mailbridge.common.events import FetchReason
from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal, TokenReply
from mailbridge.common.secrets import SecretBox
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.adapters.pop3 import Pop3Sessions
from mailbridge.fetcher.adapters.presented_certificate import PresentedCertificates
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.fetch_account import FetchDeps, Result, fetch_account
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# An IMAP account and its lease for unit tests on fakes (no database, no server).
ACCOUNT = AccountConfig(
    account_id=uuid.uuid4(), business_unit_id=None, protocol=IncomingProtocol.IMAP, host="imap.test",
    port=993, security=TransportSecurity.IMPLICIT_TLS, login="u", password="p", uses_oauth=False,
    inbox_folder="INBOX", sync_folders=(), delete_after_fetch=False, delete_after_days=None,
    can_receive=True, config_version="1.1",
)  # fmt: skip
LEASE = Lease(ACCOUNT.account_id, "test", 1)


class NoBroker:
    """A token source for tests without OAuth accounts: no broker is running."""

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        return AccessTokenRefused(
            account_id=account_id, error=Refusal.UNAVAILABLE, detail="no broker in this test"
        )


def fetch_deps(
    store: MailStore, ssl_context: ssl.SSLContext, holder: str, limits: Limits, timeout_s: float
) -> FetchDeps:
    """The fetcher's deps wired to the real adapters, as `main` wires them (no IMAP connection
    kept between fetches, no OAuth broker)."""
    return FetchDeps(
        store,
        ssl_context,
        holder,
        limits,
        timeout_s,
        connections=ImapConnections(),
        pop3=Pop3Sessions(),
        tokens=NoBroker(),
        certificates=PresentedCertificates(),
    )


async def no_heartbeat() -> None:
    return None


def message(index: int, to: str, body: str = "Hello") -> bytes:
    return (
        f"From: Sender <sender{index}@example.org>\r\nTo: {to}\r\nSubject: Message {index}\r\n"
        f"Message-ID: <m{index}.{uuid.uuid4().hex}@example.org>\r\n"
        f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n{body} {index}\r\n"
    ).encode()


def on_server(world: "FetchWorld", user: MailUser) -> int:
    """How many messages `user` has on the stack, by POP3's STAT."""
    client = poplib.POP3_SSL("127.0.0.1", world.stack.ports.pop3s, context=world.stack.client_context())
    try:
        client.user(user.address)
        client.pass_(user.password)
        return int(client.stat()[0])
    finally:
        client.quit()


@dataclass
class StoreWorld:
    """A migrated store and the fetcher's deps: what every fetcher test world has."""

    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    deps: FetchDeps

    async def fetch(self, account_id: uuid.UUID, reason: FetchReason = FetchReason.MANUAL) -> Result:
        return await fetch_account(self.deps, account_id, reason, no_heartbeat)

    async def stored(self, account_id: uuid.UUID) -> list[StoredMessage]:
        async with self.sessions() as session:
            statement = select(StoredMessage).where(StoredMessage.account_id == account_id)
            rows = await session.scalars(statement.order_by(StoredMessage.folder, StoredMessage.uid))
            result = list(rows)
            for row in result:
                await session.refresh(row, ["raw"])
            return result

    async def outbox_subjects(self) -> list[str]:
        async with self.sessions() as session:
            return list(await session.scalars(select(OutboxEvent.subject).order_by(OutboxEvent.id)))


@dataclass
class FetchWorld(StoreWorld):
    stack: MailStack

    async def account(
        self, user: MailUser, protocol: str = "imap", tls_port: str | None = None, *,
        password: str | None = None, **account_fields: object,
    ) -> uuid.UUID:  # fmt: skip
        """A server and an account for `user` on the stack, written straight to the database."""
        tls_port = tls_port or ("pop3s" if protocol == "pop3" else "imaps")
        port = getattr(self.stack.ports, tls_port)
        mode = "starttls" if tls_port in ("imap", "pop3") else "implicit"
        server_fields = {
            k: account_fields.pop(k)
            for k in ("delete_after_fetch", "delete_after_days")
            if k in account_fields
        }
        async with self.sessions() as session:
            owner = User(name="Owner", email=f"{uuid.uuid4().hex}@example.com")
            server = MailServer(
                name=f"stack-{uuid.uuid4().hex}", smtp_host=f"127.0.0.1:{self.stack.ports.smtp}",
                smtp_encryption="none", incoming_protocol=protocol,
                incoming_host=f"127.0.0.1:{port}", incoming_tls=True, incoming_tls_mode=mode, **server_fields,
            )  # fmt: skip
            session.add_all([owner, server])
            await session.flush()
            account = MailAccount(
                owner_user_id=owner.id, server_id=server.id, login=user.address, address=user.address,
                password_encrypted=self.secrets.encrypt(password or user.password), **account_fields,
            )  # fmt: skip
            session.add(account)
            await session.commit()
            return account.id
