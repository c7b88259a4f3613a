"""The real OAuth broker for the tests of the services that ask it (O4): its process
(`python -m mailbridge.oauth_broker`) started with an environment of its own and waited for until
it answers on NATS, stopped with SIGTERM and checked to end cleanly; an OAuth provider row at the
local identity provider; and the connect flow through the broker as a person goes through it
(connect over NATS → sign in in the browser → the callback over NATS).

The fetcher's, the sender's and the broker's own tests use these, so a change to how the broker
starts or how a person connects is made once.
"""

import asyncio
import os
import secrets
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import nats
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
from mailbridge.common.secrets import SecretBox
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import CALLBACK_URL, OAuthClient, OAuthUser
from nats.aio.client import Client
from nats.errors import NoRespondersError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ASK_TIMEOUT_S = 30.0

# The shapes of the broker tests' fixtures (services/oauth-broker/tests/integration/conftest.py),
# spelled once here because a test module cannot import its conftest.
AddOAuthAccount = Callable[[OAuthUser, OAuthClient], Awaitable[uuid.UUID]]
SignIn = Callable[..., Awaitable[str]]
SendCallback = Callable[[str], Awaitable[CallbackReply]]
Connect = Callable[[uuid.UUID, OAuthUser], Awaitable[CallbackReply]]
BrokerProcess = Callable[[], Awaitable[asyncio.subprocess.Process]]
ConnectedAccount = Callable[[], Awaitable[uuid.UUID]]
STOP_TIMEOUT_S = 60.0


def broker_environment(
    *, nats_url: str, database_url: str, secret_key: str, var_dir: Path, extra_ca_file: Path
) -> dict[str, str]:
    """The environment of a broker process: this one's without any MAILBRIDGE_ setting of its
    own (a developer's shell must not leak in), plus exactly these, logging as text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")}
    return env | {
        "MAILBRIDGE_NATS_URL": nats_url, "MAILBRIDGE_DATABASE_URL": database_url,
        "MAILBRIDGE_SECRET_KEY": secret_key, "MAILBRIDGE_LOG_FORMAT": "text",
        "MAILBRIDGE_EXTRA_CA_FILE": str(extra_ca_file), "MAILBRIDGE_VAR_DIR": str(var_dir),
    }  # fmt: skip


async def until_answered(
    client: Client, subject: str, process: asyncio.subprocess.Process | None = None, log: Path | None = None
) -> None:
    """Wait until a broker listens on `subject` (a started app subscribes at once, a process a few
    seconds later); a `process` that ends meanwhile fails the wait with its `log`."""
    for _ in range(1200):
        if process is not None and process.returncode is not None:
            words = await asyncio.to_thread(log.read_text, errors="replace") if log is not None else ""
            raise AssertionError(f"the broker process ended ({process.returncode}):\n{words}")
        try:
            await client.request(subject, b"{}", timeout=5.0)
            return
        except NoRespondersError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"no broker answers on {subject}")


@dataclass
class BrokerProcesses:
    """Broker replicas as processes of their own, each logging to a file in `folder`."""

    env: dict[str, str] = field(repr=False)
    nats_url: str
    folder: Path
    started: list[tuple[asyncio.subprocess.Process, Path]] = field(default_factory=list)

    async def start(self) -> asyncio.subprocess.Process:
        """One more replica, returned once it answers token and connect requests on NATS (its
        subscriptions reached the server)."""
        log = self.folder / f"broker-{len(self.started)}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mailbridge.oauth_broker", env=self.env, stdout=out, stderr=out
            )
        self.started.append((process, log))
        client = await nats.connect(self.nats_url)
        try:
            for subject in (TOKEN_REQUEST_SUBJECT, CONNECT_REQUEST_SUBJECT):
                await until_answered(client, subject, process, log)
        finally:
            await client.close()
        return process

    async def stop(self, judge_exit: bool = True) -> None:
        """SIGTERM to every replica still running; with `judge_exit`, each must exit 0 without a
        traceback in its log."""
        for process, _ in self.started:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.started:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            if judge_exit:
                words = await asyncio.to_thread(log.read_text, errors="replace")
                assert process.returncode == 0, words
                assert "Traceback" not in words, words


@asynccontextmanager
async def broker_processes(
    env: dict[str, str], nats_url: str, folder: Path, judge_exit: bool = True
) -> AsyncIterator[BrokerProcesses]:
    """`await processes.start()` inside for each replica; all are stopped on the way out (and
    their exit judged, see `BrokerProcesses.stop`)."""
    processes = BrokerProcesses(env, nats_url, folder)
    try:
        yield processes
    finally:
        await processes.stop(judge_exit)


@asynccontextmanager
async def running_broker(
    *, nats_url: str, database_url: str, secret_key: str, provider: LocalIdentityProvider, folder: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """One broker process trusting `provider`'s CA, its files and log in `folder`, answering on NATS
    once entered; stopped on the way out. How it exits is for the broker's own tests to judge
    (`broker_processes`), not for the tests of the services that ask it."""
    env = broker_environment(
        nats_url=nats_url, database_url=database_url, secret_key=secret_key, var_dir=folder,
        extra_ca_file=provider.ca_file,
    )  # fmt: skip
    async with broker_processes(env, nats_url, folder, judge_exit=False) as processes:
        yield await processes.start()


async def add_local_provider(
    sessions: async_sessionmaker[AsyncSession],
    provider: LocalIdentityProvider,
    oauth_client: OAuthClient,
    box: SecretBox,
) -> uuid.UUID:
    """A Microsoft 365 OAuth provider row at the local identity provider's authority, with
    `oauth_client`'s id and secret (encrypted with `box`; none for a public client)."""
    secret = box.encrypt(oauth_client.client_secret) if oauth_client.client_secret else None
    async with sessions() as session:
        row = OAuthProvider(
            name=f"m365-{secrets.token_hex(6)}", server_type="microsoft365_email", use_default_settings=False,
            authority=provider.authority, client_id=oauth_client.client_id, client_secret_encrypted=secret,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return row.id


async def sign_in(
    client: Client,
    provider: LocalIdentityProvider,
    account_id: uuid.UUID,
    user: OAuthUser,
    accept: bool = True,
) -> str:
    """Connect asked over NATS as config-api asks, then the browser signs in (or declines); the
    URL the provider redirects the browser to."""
    request = ConnectRequest(account_id=account_id, redirect_uri=CALLBACK_URL)
    started = await ask(client, CONNECT_REQUEST_SUBJECT, request, CONNECT_REPLY, ASK_TIMEOUT_S)
    assert isinstance(started, ConnectStarted), started
    return await asyncio.to_thread(
        provider.browser_sign_in, started.authorization_url, user.login, user.password, accept=accept
    )


async def send_callback(client: Client, redirected_to: str) -> CallbackReply:
    """The query the browser brought, handed over as GET /oauth/callback does; the broker's reply."""
    request = CallbackRequest(params=dict(parse_qsl(urlsplit(redirected_to).query)))
    return await ask(client, CALLBACK_REQUEST_SUBJECT, request, CALLBACK_REPLY, ASK_TIMEOUT_S)


async def connect(
    client: Client, provider: LocalIdentityProvider, account_id: uuid.UUID, user: OAuthUser
) -> CallbackReply:
    """The whole connect flow for `account_id` as `user`; the callback's reply."""
    return await send_callback(client, await sign_in(client, provider, account_id, user))
