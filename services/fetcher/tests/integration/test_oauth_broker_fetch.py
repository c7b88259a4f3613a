"""The fetcher with the real OAuth broker process (`python -m mailbridge.oauth_broker`), the local
identity provider and Dovecot checking its tokens by introspection (O4, S2): an account connected
through the whole authorization-code flow is fetched with the broker's token; once the person's
grant is revoked at the provider, Dovecot refuses the token, the fetcher asks again naming it, the
broker's refresh meets invalid_grant, and the fetch fails at once with the reason (not retried),
the account needs reconnecting, and the schedule waits for it."""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import nats
import pytest
from fetcher_testing import FetchWorld, fetch_deps, message
from hostile_accounts import fetch_state
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.tables import MailAccount, MailServer, OAuthProvider
from mailbridge.common.events import FetchReason
from mailbridge.common.oauth_requests import (
    CALLBACK_REPLY,
    CALLBACK_REQUEST_SUBJECT,
    CONNECT_REPLY,
    CONNECT_REQUEST_SUBJECT,
    BrokerTokens,
    CallbackRequest,
    ConnectFinished,
    ConnectRequest,
    ConnectStarted,
    ask,
)
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import CALLBACK_URL, OAuthClient, OAuthUser
from mailbridge.testkit.oauth_mail import OAuthMailStack
from nats.aio.client import Client
from nats.errors import NoRespondersError

ASK_TIMEOUT_S = 30.0
KEY = generate_key()


@pytest.fixture(scope="session")
def broker_process(
    migrated_url: str,
    nats_url: str,
    identity_provider: LocalIdentityProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    """One broker process for the tests here (it starts in seconds: msal and the rest to import)."""
    tmp_path = tmp_path_factory.mktemp("broker")
    env = os.environ | {
        "MAILBRIDGE_NATS_URL": nats_url, "MAILBRIDGE_DATABASE_URL": migrated_url, "MAILBRIDGE_SECRET_KEY": KEY,
        "MAILBRIDGE_VAR_DIR": str(tmp_path), "MAILBRIDGE_EXTRA_CA_FILE": str(identity_provider.ca_file),
    }  # fmt: skip
    with (tmp_path / "broker.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbridge.oauth_broker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
async def world(
    migrated_url: str,
    oauth_mail_stack: OAuthMailStack,
    nats_url: str,
    broker_process: subprocess.Popen[bytes],
) -> AsyncIterator[tuple[FetchWorld, Client]]:
    engine = create_engine(migrated_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    client = await nats.connect(nats_url)
    await until_answered(client, CONNECT_REQUEST_SUBJECT, broker_process)
    limits = Limits(batch_count=7, batch_bytes=64 * 1024, lease_ttl=timedelta(seconds=30))
    secrets = SecretBox([KEY])
    deps = fetch_deps(MailStore(sessions, secrets), oauth_mail_stack.client_context(), "e2e", limits, 10.0)
    deps = replace(deps, tokens=BrokerTokens(lambda: client, ASK_TIMEOUT_S))
    yield FetchWorld(sessions, secrets, deps, oauth_mail_stack), client
    await client.close()
    await engine.dispose()


async def until_answered(client: Client, subject: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until the broker process listens on `subject`."""
    for _ in range(600):
        assert process.poll() is None, "the broker process ended"
        try:
            await client.request(subject, b"{}", timeout=5.0)
            return
        except NoRespondersError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"no broker answers on {subject}")


async def connected_account(
    world: FetchWorld, client: Client, provider: LocalIdentityProvider, oauth_client: OAuthClient, user: OAuthUser,
    protocol: str,
) -> uuid.UUID:  # fmt: skip
    """An account on a Microsoft 365 provider at the local identity provider, connected as a
    person does it (O4): connect over NATS, sign in in the browser, the callback over NATS."""
    mailbox = world.stack.add_user(user.login)
    account = await world.account(mailbox, protocol)
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        oauth_provider = OAuthProvider(
            name=f"m365-{uuid.uuid4().hex}", server_type="microsoft365_email", authority=provider.authority,
            client_id=oauth_client.client_id, client_secret_encrypted=world.secrets.encrypt(oauth_client.client_secret or ""),
        )  # fmt: skip
        session.add(oauth_provider)
        await session.flush()
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.oauth_provider_id = oauth_provider.id
        row.password_encrypted = None
        await session.commit()
    request = ConnectRequest(account_id=account, redirect_uri=CALLBACK_URL)
    started = await ask(client, CONNECT_REQUEST_SUBJECT, request, CONNECT_REPLY, ASK_TIMEOUT_S)
    assert isinstance(started, ConnectStarted), started
    redirected = await asyncio.to_thread(
        provider.browser_sign_in, started.authorization_url, user.login, user.password
    )
    callback = CallbackRequest(params=dict(parse_qsl(urlsplit(redirected).query)))
    finished = await ask(client, CALLBACK_REQUEST_SUBJECT, callback, CALLBACK_REPLY, ASK_TIMEOUT_S)
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
