"""Connect end to end (O4) against the local identity provider over TLS, real NATS, SQLite and
PostgreSQL: connect over NATS → the browser signs in → the callback → connected, grant stored
encrypted; and every way it must refuse: replay, unknown state, expiry, denied consent, another
mailbox."""

import uuid

from faststream import FastStream
from mailbridge.common.db.oauth_grants import OAuthFlow, OAuthGrant
from mailbridge.common.db.tables import MailAccount, OAuthProvider
from mailbridge.common.oauth_requests import (
    CONNECT_REPLY,
    CONNECT_REQUEST_SUBJECT,
    AccessTokenGranted,
    AccessTokenRefused,
    ConnectFinished,
    ConnectRefused,
    ConnectRequest,
    FlowRefusal,
    Refusal,
    ask,
    request_access_token,
    token_fingerprint,
)
from mailbridge.common.secrets import SecretBox
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
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

CODE = "authorization_code"


async def account_state(
    sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID
) -> tuple[str, str | None]:
    async with sessions() as session:
        account = await session.get(MailAccount, account_id)
        assert account is not None
        return account.oauth_state, account.oauth_reason


async def grant_rows(sessions: async_sessionmaker[AsyncSession], account_id: uuid.UUID) -> list[OAuthGrant]:
    async with sessions() as session:
        return list(
            (await session.execute(select(OAuthGrant).where(OAuthGrant.account_id == account_id))).scalars()
        )


async def test_a_connected_account_holds_an_encrypted_grant_and_gets_tokens(
    broker: FastStream, client: Client, sessions: async_sessionmaker[AsyncSession], box: SecretBox,
    add_oauth_account: AddOAuthAccount, connect: Connect, oauth_user: OAuthUser, oauth_client: OAuthClient,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    assert await connect(account, oauth_user) == ConnectFinished(account_id=account, login=oauth_user.login)
    assert await account_state(sessions, account) == ("connected", None)
    [grant] = await grant_rows(sessions, account)
    assert '"RefreshToken"' in box.decrypt(grant.token_cache_encrypted)
    assert "RefreshToken" not in grant.token_cache_encrypted
    reply = await request_access_token(client, account, 30.0)
    assert isinstance(reply, AccessTokenGranted)
    assert reply.access_token.count(".") == 2  # the provider's JWT, answered from the cache
    assert reply.access_token not in grant.token_cache_encrypted
    assert identity_provider.grants_redeemed(oauth_user.login, CODE) == 1
    assert identity_provider.grants_redeemed(oauth_user.login, "refresh_token") == 0


async def test_a_replayed_callback_redeems_nothing(
    broker: FastStream, add_oauth_account: AddOAuthAccount, sign_in: SignIn, send_callback: SendCallback,
    oauth_user: OAuthUser, oauth_client: OAuthClient, identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    redirected = await sign_in(account, oauth_user)
    assert isinstance(await send_callback(redirected), ConnectFinished)
    replay = await send_callback(redirected)
    assert isinstance(replay, ConnectRefused)
    assert replay.error is FlowRefusal.STATE_UNKNOWN
    assert identity_provider.grants_redeemed(oauth_user.login, CODE) == 1


async def test_a_callback_with_another_state_is_unknown(
    broker: FastStream, sessions: async_sessionmaker[AsyncSession], add_oauth_account: AddOAuthAccount,
    sign_in: SignIn, send_callback: SendCallback, oauth_user: OAuthUser, oauth_client: OAuthClient,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    redirected = await sign_in(account, oauth_user)
    forged = redirected.replace("state=", "state=forged")
    reply = await send_callback(forged)
    assert isinstance(reply, ConnectRefused)
    assert (reply.error, reply.account_id) == (FlowRefusal.STATE_UNKNOWN, None)
    assert await account_state(sessions, account) == ("disconnected", None)
    assert isinstance(await send_callback(redirected), ConnectFinished)  # the real one still works


async def test_an_expired_flow_is_refused_and_deleted(
    broker: FastStream, sessions: async_sessionmaker[AsyncSession], add_oauth_account: AddOAuthAccount,
    sign_in: SignIn, send_callback: SendCallback, oauth_user: OAuthUser, oauth_client: OAuthClient,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    redirected = await sign_in(account, oauth_user)
    async with sessions() as session:
        past = OAuthFlow.created_at  # created before the sign-in: certainly in the past
        await session.execute(
            update(OAuthFlow).where(OAuthFlow.account_id == account).values(expires_at=past)
        )
        await session.commit()
    reply = await send_callback(redirected)
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.FLOW_EXPIRED
    async with sessions() as session:
        assert (
            await session.execute(select(OAuthFlow).where(OAuthFlow.account_id == account))
        ).first() is None
    assert identity_provider.grants_redeemed(oauth_user.login, CODE) == 0


async def test_denied_consent_is_refused_in_the_providers_words(
    broker: FastStream, sessions: async_sessionmaker[AsyncSession], add_oauth_account: AddOAuthAccount,
    sign_in: SignIn, send_callback: SendCallback, oauth_user: OAuthUser, oauth_client: OAuthClient,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    redirected = await sign_in(account, oauth_user, accept=False)
    reply = await send_callback(redirected)
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.CONSENT_DENIED
    assert "the identity provider said:" in reply.detail
    assert await grant_rows(sessions, account) == []


async def test_another_mailbox_signed_in_stores_nothing(
    broker: FastStream, sessions: async_sessionmaker[AsyncSession], add_oauth_account: AddOAuthAccount,
    sign_in: SignIn, send_callback: SendCallback, oauth_user: OAuthUser, oauth_client: OAuthClient,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    someone_else = OAuthUser(f"other-{uuid.uuid4().hex[:8]}@example.org", "pw-of-someone-else")
    identity_provider.add_user(someone_else.login, someone_else.password)
    reply = await send_callback(await sign_in(account, someone_else))
    assert isinstance(reply, ConnectRefused)
    assert reply.error is FlowRefusal.WRONG_MAILBOX
    assert someone_else.login in reply.detail
    assert oauth_user.login in reply.detail
    assert await grant_rows(sessions, account) == []
    assert await account_state(sessions, account) == ("disconnected", None)


async def test_a_generic_oidc_provider_connects_through_its_issuer(
    broker: FastStream, client: Client, sessions: async_sessionmaker[AsyncSession],
    add_oauth_account: AddOAuthAccount, connect: Connect, oauth_user: OAuthUser, oauth_client: OAuthClient,
    identity_provider: LocalIdentityProvider,
) -> None:  # fmt: skip
    account = await add_oauth_account(oauth_user, oauth_client)
    issuer = f"{identity_provider.authority}/v2.0"  # msal reads {issuer}/.well-known/openid-configuration
    async with sessions() as session:
        await session.execute(
            update(OAuthProvider).values(
                server_type="generic_oidc",
                authority=issuer,
                scopes=["https://outlook.office.com/IMAP.AccessAsUser.All"],
            )
        )
        await session.commit()
    assert await connect(account, oauth_user) == ConnectFinished(account_id=account, login=oauth_user.login)
    assert isinstance(await request_access_token(client, account, 30.0), AccessTokenGranted)


async def test_an_unreachable_provider_changes_nothing_and_a_valid_token_is_still_answered(
    connected_account: ConnectedAccount, broker: FastStream, client: Client,
    sessions: async_sessionmaker[AsyncSession], short_lived_tokens: None,
) -> None:  # fmt: skip
    account = await connected_account()
    current = await request_access_token(client, account, 30.0)  # due (60 s): refreshed
    assert isinstance(current, AccessTokenGranted)
    [before] = await grant_rows(sessions, account)
    async with sessions() as session:  # nothing listens on port 9 of loopback
        await session.execute(update(OAuthProvider).values(authority="https://127.0.0.1:9/organizations"))
        await session.commit()
    still = await request_access_token(client, account, 30.0)  # due, the refresh fails, it still works
    assert still == current
    reply = await request_access_token(
        client, account, 30.0, rejected=token_fingerprint(current.access_token)
    )
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.error, reply.retryable) == (Refusal.UNAVAILABLE, True)
    assert "identity provider" in reply.detail
    [after] = await grant_rows(sessions, account)
    assert (after.token_cache_encrypted, after.revision) == (before.token_cache_encrypted, before.revision)
    assert await account_state(sessions, account) == ("connected", None)
    started = await ask(
        client, CONNECT_REQUEST_SUBJECT, ConnectRequest(account_id=account, redirect_uri="http://127.0.0.1/cb"),
        CONNECT_REPLY, 30.0,
    )  # fmt: skip
    assert isinstance(started, ConnectRefused)
    assert started.error is FlowRefusal.UNAVAILABLE
