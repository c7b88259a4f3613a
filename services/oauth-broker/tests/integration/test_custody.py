"""Custody against the local identity provider (O4): refresh before expiry, every rotated refresh
token stored, revocation → needs_reconnect with the provider's words and AccountStateChanged,
then refusals without provider calls; the keep-alive; the device flow; and no plaintext token,
code or verifier in the database or in the logs (DEBUG, msal and urllib3 included)."""

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from faststream import FastStream
from mailbridge.common.db.oauth_grants import OAuthFlow, OAuthGrant
from mailbridge.common.db.schema import metadata
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.events import AccountStateChanged, Message, TokenRefreshed
from mailbridge.common.oauth_requests import (
    DEVICE_POLL_REPLY,
    DEVICE_POLL_SUBJECT,
    DEVICE_START_REPLY,
    DEVICE_START_SUBJECT,
    AccessTokenGranted,
    AccessTokenRefused,
    ConnectFinished,
    DeviceFlowStarted,
    DevicePending,
    DevicePollRequest,
    DeviceStartRequest,
    Refusal,
    ask,
    request_access_token,
    token_fingerprint,
)
from mailbridge.common.secrets import SecretBox
from mailbridge.common.streams import stream_for
from mailbridge.oauth_broker.adapters.sql_grants import SqlGrants
from mailbridge.oauth_broker.main import create_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_broker_process import (
    AddOAuthAccount,
    Connect,
    ConnectedAccount,
    SendCallback,
    SignIn,
)
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser
from nats.aio.client import Client
from sqlalchemy import String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

REFRESH = "refresh_token"
ASK_S = 30.0


async def granted(client: Client, account: uuid.UUID, rejected: str | None = None) -> AccessTokenGranted:
    reply = await request_access_token(client, account, ASK_S, rejected)
    assert isinstance(reply, AccessTokenGranted), reply
    return reply


async def published(client: Client, kind: type[Message], account: uuid.UUID) -> list[Message]:
    """The events of `kind` about `account` that reached JetStream (the broker's outbox relay)."""
    js = client.jetstream()
    found: list[Message] = []
    subscription = await js.subscribe(
        kind.subject, stream=stream_for(kind.subject).name, ordered_consumer=True
    )
    try:
        while True:
            try:
                message = await subscription.next_msg(timeout=2.0)
            except TimeoutError:
                return found
            event = kind.model_validate_json(message.data)
            if getattr(event, "account_id", None) == account:
                found.append(event)
    finally:
        await subscription.unsubscribe()


async def test_a_token_close_to_expiry_is_refreshed_and_each_rotation_stored(
    connected_account: ConnectedAccount, broker: FastStream, client: Client,
    sessions: async_sessionmaker[AsyncSession], connect: Connect, oauth_user: OAuthUser,
    identity_provider: LocalIdentityProvider, short_lived_tokens: None,
) -> None:  # fmt: skip
    account = await connected_account()
    tokens = [(await granted(client, account)).access_token for _ in range(3)]
    # The provider refuses a refresh token once it has been used: three refreshes in a row
    # succeed only if each rotated one was stored.
    assert len(set(tokens)) == 3
    assert identity_provider.grants_redeemed(oauth_user.login, REFRESH) == 3
    async with sessions() as session:
        grant = await session.get(OAuthGrant, account)
        assert grant is not None
        assert grant.revision == 3
    refreshed = await published(client, TokenRefreshed, account)
    assert len(refreshed) == 4  # the connect and three refreshes
    assert all(
        set(event.model_dump()) == {"event_id", "occurred_at", "account_id", "expires_at"}
        for event in refreshed
    )


async def test_a_refused_token_is_refreshed_once_for_many_askers(
    connected_account: ConnectedAccount, broker: FastStream, client: Client, oauth_user: OAuthUser,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await connected_account()
    first = await granted(client, account)
    refused = token_fingerprint(first.access_token)
    replies = await asyncio.gather(*(granted(client, account, rejected=refused) for _ in range(8)))
    assert len({reply.access_token for reply in replies}) == 1
    assert replies[0].access_token != first.access_token
    assert identity_provider.grants_redeemed(oauth_user.login, REFRESH) == 1


async def test_a_revoked_grant_needs_reconnect_and_later_requests_ask_nobody(
    connected_account: ConnectedAccount, broker: FastStream, client: Client,
    sessions: async_sessionmaker[AsyncSession], connect: Connect, oauth_user: OAuthUser,
    identity_provider: LocalIdentityProvider, short_lived_tokens: None,
) -> None:  # fmt: skip
    account = await connected_account()
    identity_provider.revoke(oauth_user.login)
    reply = await request_access_token(client, account, ASK_S)
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.error, reply.retryable) == (Refusal.NEEDS_RECONNECT, False)
    assert "AADSTS70000" in reply.detail
    async with sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        assert row.oauth_state == "needs_reconnect"
        assert row.oauth_reason is not None
        assert row.oauth_reason.startswith("AADSTS70000")
        assert await session.get(OAuthGrant, account) is None
    calls = identity_provider.grants_redeemed(oauth_user.login, REFRESH)
    for _ in range(5):
        later = await request_access_token(client, account, ASK_S)
        assert isinstance(later, AccessTokenRefused)
        assert (later.error, later.detail) == (Refusal.NEEDS_RECONNECT, reply.detail)
    assert identity_provider.grants_redeemed(oauth_user.login, REFRESH) == calls
    changes = await published(client, AccountStateChanged, account)
    assert [(c.state, c.reason) for c in changes if isinstance(c, AccountStateChanged)] == [
        ("ok", None), ("needs_reconnect", row.oauth_reason),
    ]  # fmt: skip
    assert isinstance(await connect(account, oauth_user), ConnectFinished)  # connecting again heals it
    assert isinstance(await request_access_token(client, account, ASK_S), AccessTokenGranted)


async def test_the_keep_alive_refreshes_an_idle_grant(
    connected_account: ConnectedAccount, broker_settings: OAuthBrokerSettings, client: Client,
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, oauth_user: OAuthUser,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    eager = broker_settings.model_copy(
        update={"oauth_keep_alive_every_s": 0.05, "oauth_keep_alive_after_s": 3600.0}
    )
    app = create_app(eager)
    await app.start()
    try:
        account = await connected_account()
        async with sessions() as session:
            await session.execute(
                update(OAuthGrant).where(OAuthGrant.account_id == account).values(refreshed_at=_a_day_ago())
            )
            await session.commit()
        for _ in range(400):  # the refresher runs every 50 ms: wait for its commit
            async with sessions() as session:
                grant = await session.get(OAuthGrant, account)
            if grant is not None and grant.revision:
                break
            await asyncio.sleep(0.05)
        assert grant is not None
        assert grant.revision == 1
        assert identity_provider.grants_redeemed(oauth_user.login, REFRESH) == 1
        assert await SqlGrants(sessions, box).stale(_a_day_ago(), 10) == []
    finally:
        await app.stop()


def _a_day_ago() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


async def test_the_device_flow_connects_a_headless_set_up(
    broker: FastStream, client: Client, add_oauth_account: AddOAuthAccount, oauth_user: OAuthUser,
    oauth_public_client: OAuthClient, identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_public_client)
    started = await ask(
        client, DEVICE_START_SUBJECT, DeviceStartRequest(account_id=account), DEVICE_START_REPLY, ASK_S
    )
    assert isinstance(started, DeviceFlowStarted), started
    poll = DevicePollRequest(flow_id=started.flow_id)
    assert await ask(client, DEVICE_POLL_SUBJECT, poll, DEVICE_POLL_REPLY, ASK_S) == DevicePending(
        flow_id=poll.flow_id
    )
    await asyncio.to_thread(
        identity_provider.approve_device_code, started.user_code, oauth_user.login, oauth_user.password
    )
    for _ in range(100):
        await asyncio.sleep(started.interval_s)
        reply = await ask(client, DEVICE_POLL_SUBJECT, poll, DEVICE_POLL_REPLY, ASK_S)
        if not isinstance(reply, DevicePending):
            break
    assert reply == ConnectFinished(account_id=account, login=oauth_user.login)
    assert isinstance(await request_access_token(client, account, ASK_S), AccessTokenGranted)


async def test_no_token_code_or_verifier_in_the_database_or_the_logs(
    broker: FastStream, client: Client, sessions: async_sessionmaker[AsyncSession], box: SecretBox,
    add_oauth_account: AddOAuthAccount, sign_in: SignIn, send_callback: SendCallback,
    oauth_user: OAuthUser, oauth_client: OAuthClient, short_lived_tokens: None, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    for name in ("msal", "urllib3", "mailbridge", "faststream", "nats"):
        caplog.set_level(logging.DEBUG, logger=name)
    account = await add_oauth_account(oauth_user, oauth_client)
    redirected = await sign_in(account, oauth_user)
    async with sessions() as session:
        [flow] = (await session.execute(select(OAuthFlow.flow_encrypted))).scalars()
        started = json.loads(box.decrypt(flow))
    assert isinstance(await send_callback(redirected), ConnectFinished)
    secrets = {
        dict(parse_qsl(urlsplit(redirected).query))["code"],
        started["code_verifier"],
        started["nonce"],
    }
    secrets |= {(await granted(client, account)).access_token for _ in range(2)}
    async with sessions() as session:
        grant = await session.get(OAuthGrant, account)
        assert grant is not None
        cache = json.loads(box.decrypt(grant.token_cache_encrypted))
    secrets |= {
        entry["secret"]
        for kind in ("AccessToken", "RefreshToken", "IdToken")
        for entry in cache.get(kind, {}).values()
    }
    assert len(secrets) >= 5
    stored = await _every_text_value(sessions)
    # httpx is the test's browser (testkit's sign-in), which rightly sees the code; the broker uses requests.
    browser = ("httpx", "httpcore")
    logged = "\n".join(
        caplog.handler.format(record) for record in caplog.records if not record.name.startswith(browser)
    )
    for secret in secrets:
        assert secret not in logged
        assert not any(secret in value for value in stored)
    assert "DEBUG" in {record.levelname for record in caplog.records}


async def _every_text_value(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    values: list[str] = []
    async with sessions() as session:
        for table in metadata.sorted_tables:
            columns = [column for column in table.columns if isinstance(column.type, (String, Text))]
            if columns:
                rows = (await session.execute(select(*columns))).all()
                values += [str(value) for row in rows for value in row if value is not None]
    return values
