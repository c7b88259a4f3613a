"""Sending with XOAUTH2 through Postfix submission checking the local identity provider's tokens
(S2, O4), tokens handed out over the real NATS wire (`testkit.token_desk.TokenDesk`): the mail is
delivered; a token the server refuses is asked for again once and the fresh one sends; a broker
that says the account needs reconnecting fails the mail at once with the reason, acked, with one
token request and no retry."""

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats
import pytest
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import OAuthProvider
from mailbridge.common.events import SendFailed
from mailbridge.common.oauth_requests import BrokerTokens, Refusal, token_fingerprint
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.work_queue import Settle
from mailbridge.common.xoauth2 import initial_response
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.smtp_xoauth2 import SignIn
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.send_outbox import SendDeps, send_outbox
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_config import IMAP_SCOPE, SMTP_SCOPE
from mailbridge.testkit.token_desk import TokenDesk, granted, refused
from mailbridge.testkit.users import MailUser
from sender_testing import delivered, outbox_row, queue_mail
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass
class World:
    deps: SendDeps
    sessions: async_sessionmaker[AsyncSession]
    stack: OAuthMailStack
    desk: TokenDesk

    async def account(self, user: MailUser, sent_folder: str | None = None) -> uuid.UUID:
        """An account on a server with an OAuth provider (S2): no password (A3), connected (O4)."""
        async with self.sessions() as session:
            provider = OAuthProvider(name=f"m365-{uuid.uuid4().hex}", server_type="microsoft365_email")
            session.add(provider)
            await session.commit()
            provider_id = provider.id
        rows = await add_account(
            self.sessions, smtp_host=f"127.0.0.1:{self.stack.ports.submission}", login=user.address,
            address=user.address, incoming_protocol="imap", incoming_host=f"127.0.0.1:{self.stack.ports.imaps}",
            server={
                "smtp_auth": True, "smtp_encryption": "auto", "oauth_provider_id": provider_id,
                "incoming_tls_mode": "implicit", "sent_folder": sent_folder,
            },
            account={"oauth_state": "connected"},
        )  # fmt: skip
        return rows.account_id

    async def queue(self, account_id: uuid.UUID, to: str, subject: str) -> uuid.UUID:
        return await queue_mail(self.sessions, account_id, to, subject=subject)

    async def row(self, outbox_id: uuid.UUID) -> OutboxMessage:
        return await outbox_row(self.sessions, outbox_id)


@pytest.fixture
async def world(
    database_url: str,
    oauth_mail_stack: OAuthMailStack,
    nats_url: str,
) -> AsyncIterator[World]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    client = await nats.connect(nats_url)
    desk = await TokenDesk([]).start(nats_url)
    tls = oauth_mail_stack.client_context()
    tokens = BrokerTokens(lambda: client, 5.0)
    pool = SmtpPool(tls, timeout_s=10, authenticate=SignIn(tokens))
    store = OutboxStore(sessions, SecretBox([generate_key()]))
    yield World(
        SendDeps(store, build_message, pool, ImapSentFolder(tls, 10, tokens)),
        sessions,
        oauth_mail_stack,
        desk,
    )
    await pool.close()
    await desk.stop()
    await client.close()
    await engine.dispose()


async def test_s2_a_mail_sent_with_xoauth2_is_delivered(
    world: World,
    oauth_mail_user: MailUser,
    identity_provider: LocalIdentityProvider,
) -> None:
    world.desk.answers = [granted(identity_provider.mint_access_token(oauth_mail_user.address, [SMTP_SCOPE]))]
    account = await world.account(oauth_mail_user)
    outbox_id = await world.queue(account, oauth_mail_user.address, "sent with a token")
    result = await send_outbox(world.deps, outbox_id)
    assert (result.verdict, result.settle) == (Verdict.DONE, Settle.ACK), result.detail
    assert (await world.row(outbox_id)).status == "sent"
    world.stack.wait_for_messages(oauth_mail_user.address, 1)
    assert [b"Subject: sent with a token" in raw for raw in delivered(world.stack, oauth_mail_user)] == [True]
    assert [r.rejected for r in world.desk.requests] == [None]


async def test_s10_the_sent_mail_is_filed_in_the_sent_folder_with_xoauth2_too(
    world: World, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider
) -> None:
    # a Microsoft 365 token carries every scope granted: SMTP for the send, IMAP for the append
    token = identity_provider.mint_access_token(oauth_mail_user.address, [SMTP_SCOPE, IMAP_SCOPE])
    expired = identity_provider.mint_access_token(
        oauth_mail_user.address, [SMTP_SCOPE, IMAP_SCOPE], expires_in_s=-600
    )
    world.desk.answers = [granted(token), granted(expired), granted(token)]
    account = await world.account(oauth_mail_user, sent_folder="Sent")
    result = await send_outbox(world.deps, await world.queue(account, "bob@example.org", "filed"))
    assert (result.verdict, result.detail) == (Verdict.DONE, "sent and filed in the Sent folder")
    filed = delivered(world.stack, oauth_mail_user, "Sent")
    assert [b"Subject: filed" in raw for raw in filed] == [True]
    assert [r.rejected for r in world.desk.requests] == [None, None, token_fingerprint(expired)]


async def test_o4_an_expired_token_is_refreshed_once_and_the_mail_goes(
    world: World,
    oauth_mail_user: MailUser,
    identity_provider: LocalIdentityProvider,
) -> None:
    expired = identity_provider.mint_access_token(oauth_mail_user.address, [SMTP_SCOPE], expires_in_s=-600)
    fresh = identity_provider.mint_access_token(oauth_mail_user.address, [SMTP_SCOPE])
    world.desk.answers = [granted(expired), granted(fresh)]
    account = await world.account(oauth_mail_user)
    result = await send_outbox(
        world.deps, await world.queue(account, oauth_mail_user.address, "second token")
    )
    assert result.verdict is Verdict.DONE, result.detail
    assert [r.rejected for r in world.desk.requests] == [None, token_fingerprint(expired)]


async def test_o4_a_token_refused_twice_keeps_the_mail_queued_for_a_later_attempt(
    world: World,
    oauth_mail_user: MailUser,
    identity_provider: LocalIdentityProvider,
) -> None:
    expired = identity_provider.mint_access_token(oauth_mail_user.address, [SMTP_SCOPE], expires_in_s=-600)
    world.desk.answers = [granted(expired)]
    account = await world.account(oauth_mail_user)
    outbox_id = await world.queue(account, oauth_mail_user.address, "never")
    result = await send_outbox(world.deps, outbox_id)
    assert (result.verdict, result.settle) == (Verdict.RETRY, Settle.RETRY)
    row = await world.row(outbox_id)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_reply is not None
    assert "with an OAuth token rejected, a refreshed one too: 535" in row.last_reply
    assert expired not in row.last_reply
    assert len(world.desk.requests) == 2


async def test_o4_needs_reconnect_fails_the_send_at_once_with_the_reason_and_no_retry(
    world: World,
    oauth_mail_user: MailUser,
) -> None:
    world.desk.answers = [refused(Refusal.NEEDS_RECONNECT, "AADSTS50173: the grant was revoked")]
    account = await world.account(oauth_mail_user)
    outbox_id = await world.queue(account, oauth_mail_user.address, "revoked")
    result = await send_outbox(world.deps, outbox_id)
    assert (result.verdict, result.settle) == (Verdict.GIVE_UP, Settle.ACK)
    row = await world.row(outbox_id)
    reason = (
        f"the account {oauth_mail_user.address} must be connected again at its OAuth provider (O4): "
        "AADSTS50173: the grant was revoked"
    )
    assert (row.status, row.attempts, row.last_reply) == ("failed", 1, reason)
    assert len(world.desk.requests) == 1
    async with world.sessions() as session:
        events = list(await session.scalars(select(OutboxEvent.subject)))
    assert SendFailed.subject in events


async def test_o4_no_token_reaches_a_log_line_even_at_debug(
    world: World, oauth_mail_user: MailUser, identity_provider: LocalIdentityProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    scopes = [SMTP_SCOPE, IMAP_SCOPE]
    expired = identity_provider.mint_access_token(oauth_mail_user.address, scopes, expires_in_s=-600)
    fresh = identity_provider.mint_access_token(oauth_mail_user.address, scopes)
    world.desk.answers = [granted(expired), granted(fresh)]
    account = await world.account(oauth_mail_user, sent_folder="Sent")
    with caplog.at_level(logging.DEBUG):
        result = await send_outbox(world.deps, await world.queue(account, "bob@example.org", "quiet"))
    assert result.detail == "sent and filed in the Sent folder"
    assert "Sending : " in caplog.text, "aioimaplib's own debug lines are in"
    for token in (expired, fresh):
        for secret in (token, initial_response(oauth_mail_user.address, token).decode()):
            assert secret not in caplog.text
