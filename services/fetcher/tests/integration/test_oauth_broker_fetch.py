"""The fetcher with the real OAuth broker process (`python -m mailbridge.oauth_broker`), the local
identity provider and Dovecot checking its tokens by introspection (O4, S2): an account connected
through the whole authorization-code flow is fetched with the broker's token; once the person's
grant is revoked at the provider, Dovecot refuses the token, the fetcher asks again naming it, the
broker's refresh meets invalid_grant, and the fetch fails at once with the reason (not retried),
the account needs reconnecting, and the schedule waits for it."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import nats
import pytest
from fetcher_testing import FetchWorld, fetch_deps, message
from hostile_accounts import fetch_state
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import FetchReason
from mailbridge.common.oauth_requests import BrokerTokens, ConnectFinished
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables
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

KEY = generate_key()


@pytest.fixture(scope="module")
async def broker_process(
    migrated_url: str,
    nats_url: str,
    identity_provider: LocalIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One broker process for the tests here (it starts in seconds: msal and the rest to import),
    stopped at the module's end, so it never answers another module's requests (a token desk's, or
    those of a broker with another key)."""
    folder = tmp_path_factory.mktemp("broker")
    async with running_broker(
        nats_url=nats_url,
        database_url=migrated_url,
        secret_key=KEY,
        provider=identity_provider,
        folder=folder,
    ) as process:
        yield process


@pytest.fixture
async def world(
    migrated_url: str,
    oauth_mail_stack: OAuthMailStack,
    nats_url: str,
    broker_process: asyncio.subprocess.Process,
) -> AsyncIterator[tuple[FetchWorld, Client]]:
    engine = create_engine(migrated_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    client = await nats.connect(nats_url)
    limits = Limits(batch_count=7, batch_bytes=64 * 1024, lease_ttl=timedelta(seconds=30))
    secrets = SecretBox([KEY])
    deps = fetch_deps(MailStore(sessions, secrets), oauth_mail_stack.client_context(), "e2e", limits, 10.0)
    deps = replace(deps, tokens=BrokerTokens(lambda: client, ASK_TIMEOUT_S))
    yield FetchWorld(sessions, secrets, deps, oauth_mail_stack), client
    await client.close()
    await engine.dispose()


async def connected_account(
    world: FetchWorld, client: Client, provider: LocalIdentityProvider, oauth_client: OAuthClient, user: OAuthUser,
    protocol: str,
) -> uuid.UUID:  # fmt: skip
    """An account on a Microsoft 365 provider at the local identity provider, connected as a
    person does it (O4): connect over NATS, sign in in the browser, the callback over NATS."""
    mailbox = world.stack.add_user(user.login)
    account = await world.account(mailbox, protocol)
    provider_id = await add_local_provider(world.sessions, provider, oauth_client, world.secrets)
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.oauth_provider_id = provider_id
        row.password_encrypted = None
        await session.commit()
    finished = await connect(client, provider, account, user)
    assert isinstance(finished, ConnectFinished), finished
    return account


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_o4_a_connected_account_is_fetched_with_the_brokers_token_until_its_grant_is_revoked(
    world: tuple[FetchWorld, Client], identity_provider: LocalIdentityProvider, oauth_client: OAuthClient,
    oauth_user: OAuthUser, protocol: str,
) -> None:  # fmt: skip
    fetch_world, client = world
    account = await connected_account(
        fetch_world, client, identity_provider, oauth_client, oauth_user, protocol
    )
    fetch_world.stack.seed(oauth_user.login, [message(1, oauth_user.login), message(2, oauth_user.login)])
    first = await fetch_world.fetch(account, FetchReason.TEST)
    assert (first.outcome, first.reason) == (Outcome.DONE, None)
    assert len(await fetch_world.stored(account)) == 2

    identity_provider.revoke(oauth_user.login)
    revoked = await fetch_world.fetch(account)
    assert revoked.outcome is Outcome.DONE, "acknowledged, not retried"
    state = await fetch_state(fetch_world, account)
    assert state is not None
    assert state.status == "failed"
    assert state.reason is not None
    assert state.reason.startswith("the account must be connected again at its OAuth provider (O4): "), (
        state.reason
    )
    async with fetch_world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        assert row.oauth_state == "needs_reconnect"
    scheduled = await fetch_world.fetch(account, FetchReason.SCHEDULED)
    assert scheduled.outcome is Outcome.SKIPPED
