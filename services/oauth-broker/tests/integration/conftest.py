"""OAuth broker fixtures: a migrated database on SQLite and PostgreSQL, a broker replica running
in the test's loop against real NATS (and the local identity provider), OAuth accounts, and the
whole connect flow as a browser runs it (connect → sign in → callback)."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from faststream import FastStream
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.oauth_requests import CONNECT_REQUEST_SUBJECT, CallbackReply, ConnectFinished
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.oauth_broker.main import create_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from mailbridge.testkit import oauth_broker_process
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_broker_process import (
    AddOAuthAccount,
    BrokerProcess,
    Connect,
    ConnectedAccount,
    SendCallback,
    SignIn,
    add_local_provider,
    broker_environment,
    broker_processes,
    until_answered,
)
from mailbridge.testkit.oauth_fixtures import OAuthClient, OAuthUser
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@pytest.fixture(scope="session")
async def migrated_url(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture
async def sessions(migrated_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated_url)
    factory = create_session_factory(engine)
    await empty_tables(factory)
    yield factory
    await engine.dispose()


@pytest.fixture
def secret_key() -> str:
    return generate_key()


@pytest.fixture
def box(secret_key: str) -> SecretBox:
    return SecretBox([secret_key])


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    yield connection
    await connection.close()


@pytest.fixture
def short_lived_tokens(identity_provider: LocalIdentityProvider) -> Iterator[None]:
    """Access tokens that live 60 s: always inside the 5-minute margin, so each request refreshes."""
    before = identity_provider.access_token_lifetime_s
    identity_provider.access_token_lifetime_s = 60
    yield
    identity_provider.access_token_lifetime_s = before


@pytest.fixture
def broker_settings(
    nats_url: str,
    migrated_url: str,
    secret_key: str,
    identity_provider: LocalIdentityProvider,
    tmp_path: Path,
) -> OAuthBrokerSettings:
    return OAuthBrokerSettings(
        nats_url=nats_url, database_url=migrated_url, secret_key=secret_key, var_dir=tmp_path,
        extra_ca_file=identity_provider.ca_file, oauth_provider_timeout_s=10.0,
        oauth_keep_alive_every_s=3600.0,
    )  # fmt: skip


@pytest.fixture
async def broker(
    broker_settings: OAuthBrokerSettings, sessions: async_sessionmaker[AsyncSession], client: Client
) -> AsyncIterator[FastStream]:
    """One replica in the test's loop; `sessions` first, so the tables are emptied before."""
    app = create_app(broker_settings)
    await app.start()
    await until_answered(client, CONNECT_REQUEST_SUBJECT)  # a started app subscribes at once
    yield app
    await app.stop()


@pytest.fixture
def add_oauth_account(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, identity_provider: LocalIdentityProvider
) -> AddOAuthAccount:
    """`await add_oauth_account(user, client)`: an account whose login is the user's, on a server
    whose provider is a Microsoft 365 one at the local identity provider's authority."""

    async def add(user: OAuthUser, oauth_client: OAuthClient) -> uuid.UUID:
        provider_id = await add_local_provider(sessions, identity_provider, oauth_client, box)
        rows = await add_account(
            sessions, login=user.login, address=user.login, server={"oauth_provider_id": provider_id}
        )
        return rows.account_id

    return add


@pytest.fixture
def sign_in(client: Client, identity_provider: LocalIdentityProvider) -> SignIn:
    """`await sign_in(account_id, user)`: connect asked over NATS as config-api asks, then the
    browser signs in (or declines); the URL the provider redirects the browser to."""

    async def run(account_id: uuid.UUID, user: OAuthUser, accept: bool = True) -> str:
        return await oauth_broker_process.sign_in(client, identity_provider, account_id, user, accept)

    return run


@pytest.fixture
def send_callback(client: Client) -> SendCallback:
    """`await send_callback(url)`: the query the browser brought, handed over as GET /oauth/callback does."""

    async def run(redirected_to: str) -> CallbackReply:
        return await oauth_broker_process.send_callback(client, redirected_to)

    return run


@pytest.fixture
def connect(sign_in: SignIn, send_callback: SendCallback) -> Connect:
    """`await connect(account_id, user)`: the whole flow; the callback's reply."""

    async def run(account_id: uuid.UUID, user: OAuthUser) -> CallbackReply:
        return await send_callback(await sign_in(account_id, user))

    return run


@pytest.fixture
def connected_account(
    add_oauth_account: AddOAuthAccount, connect: Connect, oauth_user: OAuthUser, oauth_client: OAuthClient
) -> ConnectedAccount:
    """`await connected_account()`: an account of `oauth_user` with `oauth_client`, connected
    through the whole flow (a broker must answer: `broker`, or `broker_process` started first)."""

    async def run() -> uuid.UUID:
        account = await add_oauth_account(oauth_user, oauth_client)
        assert isinstance(await connect(account, oauth_user), ConnectFinished)
        return account

    return run


@pytest.fixture
async def broker_process(
    nats_url: str,
    migrated_url: str,
    secret_key: str,
    identity_provider: LocalIdentityProvider,
    tmp_path: Path,
) -> AsyncIterator[BrokerProcess]:
    """`await broker_process()`: a broker replica as its own process, answering on NATS; each is
    sent SIGTERM at the end, and must exit 0 without a traceback (testkit's oauth_broker_process)."""
    env = broker_environment(
        nats_url=nats_url, database_url=migrated_url, secret_key=secret_key, var_dir=tmp_path,
        extra_ca_file=identity_provider.ca_file,
    )  # fmt: skip
    async with broker_processes(env, nats_url, tmp_path) as processes:
        yield processes.start
