"""#17: a certificate failure is permanent until the configuration or the certificate changes.

The server here is the harness's Dovecot behind a TLS front on one loopback port that presents a
bad certificate from testkit's tls_faults (expired, or from a CA nobody trusts); the front is then
restarted on the same port with a good certificate, as an administrator renews one, while nothing
in Mailbridge's configuration changes. The fetch that failed recorded the certificate's SHA-256;
the next scheduled fetch reads the certificate again (no login) and runs because it changed, and
with the bad certificate unchanged it stays held back. Both databases (the `world` fixture).
"""

import asyncio
import contextlib
import hashlib
import ssl
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from fetcher_testing import FetchWorld, message, no_heartbeat
from hostile_accounts import fetch_state
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.endpoints import Endpoint, IncomingProtocol, TransportSecurity
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.presented_certificate import PresentedCertificates
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, fetch_account
from mailbridge.testkit.ports import free_port
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.tls_faults import TlsFaults
from sqlalchemy import update

TIMEOUT_S = 5.0


def sha256_of(pem: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest()


def good_context(stack: MailStack) -> ssl.SSLContext:
    """A server context presenting the harness's certificate (for localhost and 127.0.0.1)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(stack.tls.server_cert, stack.tls.server_key)
    return context


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()


class TlsFront:
    """Implicit TLS on one loopback port in front of a plain port of the stack's Dovecot (which
    takes a plain login from loopback), presenting the certificate of the context it was started
    with; `restart` keeps the port."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, context: ssl.SSLContext) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port, ssl=context)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def restart(self, context: ssl.SSLContext) -> None:
        await self.stop()
        await self.start(context)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()
            self._server, self._writers = None, []

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.append(upstream_writer)
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            for either in (writer, upstream_writer):
                either.close()


async def serve_from(world: FetchWorld, account: uuid.UUID, host_port: str) -> None:
    """The account's server row points at `host_port` with implicit TLS."""
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.incoming_host, server.incoming_tls, server.incoming_tls_mode = host_port, True, "implicit"
        await session.commit()


@pytest.mark.parametrize(("protocol", "fault"), [("imap", "expired"), ("pop3", "untrusted")])
async def test_a_renewed_certificate_lets_the_next_scheduled_fetch_run(
    world: FetchWorld, faults: TlsFaults, protocol: str, fault: str
) -> None:
    """A fetch fails on the bad certificate and records its SHA-256; scheduled and push fetches
    stay held back while the server presents it; once the server presents a good certificate on
    the same port (no configuration change), the next scheduled fetch runs and stores the mail."""
    stack = world.stack
    user = stack.add_user()
    stack.seed(user.address, [message(1, user.address)])
    deps: FetchDeps = replace(
        world.deps, ssl_context=faults.client_context(stack.ca_file), timeout_s=TIMEOUT_S
    )
    front = TlsFront(stack.ports.pop3 if protocol == "pop3" else stack.ports.imap)
    await front.start(faults.server_context(fault))
    try:
        account = await world.account(user, protocol)
        await serve_from(world, account, f"127.0.0.1:{front.port}")
        failed = await fetch_account(deps, account, FetchReason.SCHEDULED, no_heartbeat)
        assert failed.outcome is Outcome.DONE, failed
        state = await fetch_state(world, account)
        assert state is not None
        assert (state.status, state.permanent) == ("failed", True)
        assert state.certificate_sha256 == sha256_of(faults.folder / f"{fault}.pem")
        for reason in (FetchReason.SCHEDULED, FetchReason.PUSH):
            held = await fetch_account(deps, account, reason, no_heartbeat)
            assert (held.outcome, held.reason) == (
                Outcome.SKIPPED,
                f"waiting for a configuration change: {failed.reason}",
            )
        await front.restart(good_context(stack))
        renewed = await fetch_account(deps, account, FetchReason.SCHEDULED, no_heartbeat)
        assert renewed.outcome is Outcome.DONE, renewed
        assert renewed.counts is not None
        assert renewed.counts.new == 1
        state = await fetch_state(world, account)
        assert state is not None
        assert (state.status, state.permanent, state.certificate_sha256) == ("ok", False, None)
        assert len(await world.stored(account)) == 1
    finally:
        await front.stop()


async def test_an_account_failed_before_any_fingerprint_waits_for_a_configuration_change(
    world: FetchWorld, faults: TlsFaults
) -> None:
    """A certificate failure recorded without a fingerprint (before migration 0019, or the server
    could not be read then) holds automatic fetches until the configuration changes, as before."""
    stack = world.stack
    user = stack.add_user()
    deps: FetchDeps = replace(
        world.deps, ssl_context=faults.client_context(stack.ca_file), timeout_s=TIMEOUT_S
    )
    front = TlsFront(stack.ports.imap)
    await front.start(faults.server_context("expired"))
    try:
        account = await world.account(user)
        await serve_from(world, account, f"127.0.0.1:{front.port}")
        failed = await fetch_account(deps, account, FetchReason.MANUAL, no_heartbeat)
        state = await fetch_state(world, account)
        assert state is not None
        assert state.certificate_sha256 is not None
        async with world.sessions() as session:
            forgotten = (
                update(FetchState).where(FetchState.account_id == account).values(certificate_sha256=None)
            )
            await session.execute(forgotten)
            await session.commit()
        await front.restart(good_context(stack))
        held = await fetch_account(deps, account, FetchReason.SCHEDULED, no_heartbeat)
        assert (held.outcome, held.reason) == (
            Outcome.SKIPPED,
            f"waiting for a configuration change: {failed.reason}",
        )
    finally:
        await front.stop()


@pytest.mark.parametrize(
    ("protocol", "port", "security"),
    [
        (IncomingProtocol.IMAP, "imaps", TransportSecurity.IMPLICIT_TLS),
        (IncomingProtocol.IMAP, "imap", TransportSecurity.STARTTLS),
        (IncomingProtocol.POP3, "pop3s", TransportSecurity.IMPLICIT_TLS),
        (IncomingProtocol.POP3, "pop3", TransportSecurity.STARTTLS),
    ],
)
async def test_the_presented_certificate_is_read_over_implicit_tls_starttls_and_stls(
    mail_stack: MailStack, protocol: IncomingProtocol, port: str, security: TransportSecurity
) -> None:
    """Dovecot's certificate, read without trusting it (no CA given), over each way of TLS."""
    endpoint = Endpoint("127.0.0.1", getattr(mail_stack.ports, port), security, None, TIMEOUT_S)
    assert await PresentedCertificates().presented(endpoint, protocol) == sha256_of(
        mail_stack.tls.server_cert
    )


async def test_nothing_is_read_from_a_closed_port_or_without_tls(mail_stack: MailStack) -> None:
    reader = PresentedCertificates()
    closed = Endpoint("127.0.0.1", free_port(), TransportSecurity.IMPLICIT_TLS, None, TIMEOUT_S)
    assert await reader.presented(closed, IncomingProtocol.IMAP) is None
    plain = Endpoint("127.0.0.1", mail_stack.ports.imap, TransportSecurity.NONE, None, TIMEOUT_S)
    assert await reader.presented(plain, IncomingProtocol.IMAP) is None
