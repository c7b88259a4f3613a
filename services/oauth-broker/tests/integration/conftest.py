"""OAuth broker fixtures: a migrated database on SQLite and PostgreSQL, a broker replica running
in the test's loop against real NATS (and the local identity provider), OAuth accounts, and the
whole connect flow as a browser runs it (connect → sign in → callback)."""

import asyncio
import os
import secrets
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import nats
import pytest
from faststream import FastStream
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.tables import OAuthProvider
from mailbridge.common.oauth_requests import (
    CALLBACK_REPLY,
    CALLBACK_REQUEST_SUBJECT,
    CONNECT_REPLY,
    CONNECT_REQUEST_SUBJECT,
    TOKEN_REQUEST_SUBJECT,
    CallbackReply,
    CallbackRequest,
    ConnectRequest,
    ConnectStarted,
    ask,
)
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.oauth_broker.main import create_app
from mailbridge.oauth_broker.settings import OAuthBrokerSettings
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import CALLBACK_URL, OAuthClient, OAuthUser
from nats.aio.client import Client
from nats.errors import NoRespondersError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ASK_TIMEOUT_S = 30.0
AddOAuthAccount = Callable[[OAuthUser, OAuthClient], Awaitable[uuid.UUID]]
Connect = Callable[[uuid.UUID, OAuthUser], Awaitable[CallbackReply]]
SignIn = Callable[..., Awaitable[str]]
SendCallback = Callable[[str], Awaitable[CallbackReply]]
BrokerProcess = Callable[[], Awaitable[asyncio.subprocess.Process]]


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


async def until_answered(client: Client, subject: str) -> None:
    """Wait until a broker listens on `subject` (a started app subscribes at once; a process later)."""
    for _ in range(600):
        try:
            await client.request(subject, b"{}", timeout=5.0)
            return
        except NoRespondersError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"no broker answers on {subject}")


@pytest.fixture
async def broker(
    broker_settings: OAuthBrokerSettings, sessions: async_sessionmaker[AsyncSession], client: Client
) -> AsyncIterator[FastStream]:
    """One replica in the test's loop; `sessions` first, so the tables are emptied before."""
    app = create_app(broker_settings)
    await app.start()
    await until_answered(client, CONNECT_REQUEST_SUBJECT)
    yield app
    await app.stop()


@pytest.fixture
def add_oauth_account(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, identity_provider: LocalIdentityProvider
) -> AddOAuthAccount:
    """`await add_oauth_account(user, client)`: an account whose login is the user's, on a server
    whose provider is a Microsoft 365 one at the local identity provider's authority."""

    async def add(user: OAuthUser, oauth_client: OAuthClient) -> uuid.UUID:
        secret = box.encrypt(oauth_client.client_secret) if oauth_client.client_secret else None
        async with sessions() as session:
            provider = OAuthProvider(
                name=f"provider-{secrets.token_hex(4)}", server_type="microsoft365_email",
                use_default_settings=False, authority=identity_provider.authority,
                client_id=oauth_client.client_id, client_secret_encrypted=secret,
            )  # fmt: skip
            session.add(provider)
            await session.commit()
        rows = await add_account(
            sessions, login=user.login, address=user.login, server={"oauth_provider_id": provider.id}
        )
        return rows.account_id

    return add


@pytest.fixture
def sign_in(client: Client, identity_provider: LocalIdentityProvider) -> SignIn:
    """`await sign_in(account_id, user)`: connect asked over NATS as config-api asks, then the
    browser signs in (or declines); the URL the provider redirects the browser to."""

    async def run(account_id: uuid.UUID, user: OAuthUser, accept: bool = True) -> str:
        started = await ask(
            client, CONNECT_REQUEST_SUBJECT, ConnectRequest(account_id=account_id, redirect_uri=CALLBACK_URL),
            CONNECT_REPLY, ASK_TIMEOUT_S,
        )  # fmt: skip
        assert isinstance(started, ConnectStarted), started
        return await asyncio.to_thread(
            identity_provider.browser_sign_in,
            started.authorization_url,
            user.login,
            user.password,
            accept=accept,
        )

    return run


@pytest.fixture
def send_callback(client: Client) -> SendCallback:
    """`await send_callback(url)`: the query the browser brought, handed over as GET /oauth/callback does."""

    async def run(redirected_to: str) -> CallbackReply:
        params = dict(parse_qsl(urlsplit(redirected_to).query))
        request = CallbackRequest(params=params)
        return await ask(client, CALLBACK_REQUEST_SUBJECT, request, CALLBACK_REPLY, ASK_TIMEOUT_S)

    return run


@pytest.fixture
def connect(sign_in: SignIn, send_callback: SendCallback) -> Connect:
    """`await connect(account_id, user)`: the whole flow; the callback's reply."""

    async def run(account_id: uuid.UUID, user: OAuthUser) -> CallbackReply:
        return await send_callback(await sign_in(account_id, user))

    return run


def broker_environment(settings: OAuthBrokerSettings) -> dict[str, str]:
    """The environment of a `python -m mailbridge.oauth_broker` process with `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    assert settings.secret_key is not None
    return env | {
        "MAILBRIDGE_NATS_URL": str(settings.nats_url), "MAILBRIDGE_DATABASE_URL": str(settings.database_url),
        "MAILBRIDGE_SECRET_KEY": settings.secret_key.get_secret_value(), "MAILBRIDGE_LOG_FORMAT": "text",
        "MAILBRIDGE_EXTRA_CA_FILE": str(settings.extra_ca_file), "MAILBRIDGE_VAR_DIR": str(settings.var_dir),
    }  # fmt: skip


@pytest.fixture
async def broker_process(
    broker_settings: OAuthBrokerSettings, client: Client
) -> AsyncIterator[BrokerProcess]:
    """`await broker_process()`: a broker replica as its own process, started (FastStream says so
    on stderr); each is sent SIGTERM at the end, and must exit 0 without a traceback."""
    started: list[tuple[asyncio.subprocess.Process, list[str]]] = []

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailbridge.oauth_broker", env=broker_environment(broker_settings),
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        lines: list[str] = []
        started.append((process, lines))
        while "started successfully" not in (lines[-1] if lines else ""):
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, "".join(lines)
            lines.append(line.decode())
        await until_answered(client, TOKEN_REQUEST_SUBJECT)  # its subscriptions reached the server
        return process

    yield start
    for process, lines in started:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 60)
        log = "".join(lines) + rest.decode()
        assert process.returncode == 0, log
        assert "Traceback" not in log, log
