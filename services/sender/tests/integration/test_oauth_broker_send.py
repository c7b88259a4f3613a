"""The sender with the real OAuth broker process (`python -m mailbridge.oauth_broker`), the local
identity provider and Postfix submission checking its tokens through Dovecot (O4, S2): an account
connected through the whole authorization-code flow sends with the broker's token; once the grant
is revoked at the provider, the next connection's AUTH is refused, the sender asks again naming
the token, the broker's refresh meets invalid_grant, and the mail fails at once with the reason
(acked, not retried) while the account needs reconnecting. (A connection logged in before the
revocation and still idle in the pool, at most `idle_s`, would carry one more mail.)"""

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.oauth_requests import BrokerTokens, ConnectFinished
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.work_queue import Settle
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.smtp_xoauth2 import SignIn
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.send_outbox import SendDeps, SendResult, send_outbox
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_broker_process import (
    ASK_TIMEOUT_S,
    add_local_provider,
    connect,
    running_broker,
)
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser
from mailbridge.testkit.oauth_mail import OAuthMailStack
from nats.aio.client import Client
from sender_testing import delivered
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

KEY = generate_key()


@pytest.fixture(scope="session")
async def migrated(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture(scope="module")
async def broker_process(
    migrated: str,
    nats_url: str,
    identity_provider: LocalIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One broker process for the tests here (it takes seconds to start), stopped at the module's
    end, so it never answers another module's requests (a token desk's, or those of a broker with
    another key)."""
    folder = tmp_path_factory.mktemp("broker")
    async with running_broker(
        nats_url=nats_url, database_url=migrated, secret_key=KEY, provider=identity_provider, folder=folder
    ) as process:
        yield process


@pytest.fixture
async def sessions(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    factory = create_session_factory(engine)
    await empty_tables(factory)
    yield factory
    await engine.dispose()


@pytest.fixture
async def client(nats_url: str, broker_process: asyncio.subprocess.Process) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()


async def send_once(
    sessions: async_sessionmaker[AsyncSession], client: Client, stack: OAuthMailStack, outbox_id: uuid.UUID
) -> SendResult:
    """The mail sent by a sender as `main` wires it, over a connection of its own."""
    tokens = BrokerTokens(lambda: client, ASK_TIMEOUT_S)
    pool = SmtpPool(stack.client_context(), timeout_s=10, authenticate=SignIn(tokens))
    deps = SendDeps(
        OutboxStore(sessions, SecretBox([KEY])), build_message, pool,
        ImapSentFolder(stack.client_context(), 10, tokens),
    )  # fmt: skip
    try:
        return await send_outbox(deps, outbox_id)
    finally:
        await pool.close()


async def connected_account(
    sessions: async_sessionmaker[AsyncSession], client: Client, stack: OAuthMailStack,
    provider: LocalIdentityProvider, oauth_client: OAuthClient, user: OAuthUser,
) -> uuid.UUID:  # fmt: skip
    """An account on a Microsoft 365 provider at the local identity provider, connected as a
    person does it (O4): connect over NATS, sign in in the browser, the callback over NATS."""
    provider_id = await add_local_provider(sessions, provider, oauth_client, SecretBox([KEY]))
    rows = await add_account(
        sessions, smtp_host=f"127.0.0.1:{stack.ports.submission}", login=user.login, address=user.login,
        incoming_protocol="imap", incoming_host=f"127.0.0.1:{stack.ports.imaps}",
        server={"smtp_auth": True, "smtp_encryption": "auto", "oauth_provider_id": provider_id},
    )  # fmt: skip
    finished = await connect(client, provider, rows.account_id, user)
    assert isinstance(finished, ConnectFinished), finished
    return rows.account_id


async def queue(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID, to: str, subject: str
) -> uuid.UUID:
    async with sessions() as session:
        row = OutboxMessage(account_id=account_id, request={"to": [to], "subject": subject, "text": "Hello"})
        session.add(row)
        await session.commit()
        return row.id


async def test_o4_a_connected_account_sends_with_the_brokers_token_until_its_grant_is_revoked(
    sessions: async_sessionmaker[AsyncSession], client: Client, oauth_mail_stack: OAuthMailStack,
    identity_provider: LocalIdentityProvider, oauth_client: OAuthClient, oauth_user: OAuthUser,
) -> None:  # fmt: skip
    mailbox = oauth_mail_stack.add_user(oauth_user.login)
    account = await connected_account(
        sessions, client, oauth_mail_stack, identity_provider, oauth_client, oauth_user
    )
    sent = await send_once(
        sessions, client, oauth_mail_stack, await queue(sessions, account, mailbox.address, "via broker")
    )
    assert sent.verdict is Verdict.DONE, sent.detail
    oauth_mail_stack.wait_for_messages(mailbox.address, 1)
    assert [b"Subject: via broker" in raw for raw in delivered(oauth_mail_stack, mailbox)] == [True]

    identity_provider.revoke(oauth_user.login)
    outbox_id = await queue(sessions, account, mailbox.address, "after revocation")
    refused = await send_once(sessions, client, oauth_mail_stack, outbox_id)
    assert (refused.verdict, refused.settle) == (Verdict.GIVE_UP, Settle.ACK)
    async with sessions() as session:
        row = await session.get(OutboxMessage, outbox_id)
        account_row = await session.get(MailAccount, account)
    assert row is not None
    assert account_row is not None
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_reply is not None
    assert row.last_reply.startswith(
        f"the account {oauth_user.login} must be connected again at its OAuth provider (O4): "
    )
    assert account_row.oauth_state == "needs_reconnect"
