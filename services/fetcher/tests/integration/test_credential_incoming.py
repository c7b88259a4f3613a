"""The fetcher's side of the credentials test (T1, O5) against real servers set up to fail one way
each: the harness's Dovecot, a closed loopback port, a silent server, TLS servers with a bad
certificate, scripted IMAP servers; and the receive, which deletes the test message and stores
nothing."""

import uuid
from dataclasses import replace

import pytest
from fetcher_testing import FetchWorld, on_server
from hostile_accounts import fetch_state, hostile_account
from mailbridge.common.credential_checks import (
    INCOMING_CHECK_SUBJECT,
    TEST_HEADER,
    CheckRefused,
    CheckReply,
    Code,
    IncomingCheckRequest,
    ReceiveCheckRequest,
    Status,
    Step,
    ask,
    holder,
    message_token,
)
from mailbridge.common.db.mailstore import FetchLease
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import FetchReason
from mailbridge.common.oauth_requests import Refusal
from mailbridge.fetcher.adapters.credential_incoming import IncomingChecks, sent_folders
from mailbridge.fetcher.credential_requests import credential_requests
from mailbridge.fetcher.fetch_account import fetch_account
from mailbridge.fetcher.ports import TokenSource
from mailbridge.testkit.config_rows import make_oauth
from mailbridge.testkit.credential_fixtures import BROKER_REFUSALS, CERTIFICATE_FAULTS, answering
from mailbridge.testkit.credential_reports import by_step, failed_at
from mailbridge.testkit.credential_servers import imap_offering
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.ports import free_port
from mailbridge.testkit.tls_faults import TlsFaults
from mailbridge.testkit.token_desk import FixedTokens

TIMEOUT_S = 1.0


def checks(
    world: FetchWorld, faults: TlsFaults | None = None, tokens: TokenSource | None = None
) -> IncomingChecks:
    """The incoming checks as `main` wires them; with `faults`, trusting its CA too."""
    deps = world.deps
    context = deps.ssl_context if faults is None else faults.client_context(world.stack.ca_file)
    return IncomingChecks(
        deps.store, tokens or deps.tokens, sent_folders(world.sessions), context, TIMEOUT_S, poll_s=0.2
    )


async def incoming(
    world: FetchWorld, account: uuid.UUID, faults: TlsFaults | None = None, tokens: TokenSource | None = None
) -> CheckReply:
    request = IncomingCheckRequest(account_id=account, test_id=uuid.uuid4())
    reply = await checks(world, faults, tokens).check(request)
    assert isinstance(reply, CheckReply)
    assert [report.step for report in reply.steps] == list(INCOMING)
    return reply


INCOMING = (Step.RESOLVE, Step.CONNECT_INCOMING, Step.TLS_INCOMING, Step.LOGIN_INCOMING, Step.FOLDERS)


async def point(
    world: FetchWorld, account: uuid.UUID, host: str, tls: bool, mode: str = "auto", **more: object
) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.incoming_host, server.incoming_tls, server.incoming_tls_mode = host, tls, mode
        for name, value in more.items():
            setattr(server, name, value)
        await session.commit()


async def test_a_good_imap_account_passes_every_incoming_step(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user)
    reply = await incoming(world, account)
    assert all(report.status is Status.OK for report in reply.steps), reply.steps
    assert "INBOX" in by_step(reply.steps)[Step.FOLDERS].message
    assert reply.lease_token is None  # not asked to hold the lease


async def test_a_good_pop3_account_over_stls_passes(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user, "pop3", "pop3")
    reply = await incoming(world, account)
    assert all(report.status is Status.OK for report in reply.steps), reply.steps


async def test_wrong_password_is_auth_failed_at_login_and_folders_skipped(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user, password="not-the-password")
    failed_at(await incoming(world, account), Step.LOGIN_INCOMING, Code.AUTH_FAILED)


async def test_wrong_pop3_password_is_auth_failed(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user, "pop3", password="not-the-password")
    failed_at(await incoming(world, account), Step.LOGIN_INCOMING, Code.AUTH_FAILED)


async def test_a_host_under_invalid_is_unknown_host(world: FetchWorld) -> None:
    """RFC 2606: .invalid never resolves; nothing is connected to (the loopback guard stays quiet)."""
    account = await world.account(world.stack.add_user())
    await point(world, account, "mail.example.invalid:993", True)
    reply = await incoming(world, account)
    failed_at(reply.steps, Step.RESOLVE, Code.UNKNOWN_HOST)
    assert "mail.example.invalid" in by_step(reply.steps)[Step.RESOLVE].message


async def test_a_closed_port_is_connection_refused(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    await point(world, account, f"127.0.0.1:{free_port()}", True, "implicit")
    failed_at(await incoming(world, account), Step.CONNECT_INCOMING, Code.CONNECTION_REFUSED)


async def test_a_silent_server_is_a_timeout(world: FetchWorld, silent: HostileServer) -> None:
    account = await world.account(world.stack.add_user())
    await point(world, account, f"127.0.0.1:{silent.port}", False)
    failed_at(await incoming(world, account), Step.TLS_INCOMING, Code.TIMEOUT)


async def test_implicit_tls_on_the_plain_imap_port_is_tls_on_plain_port(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    await point(world, account, f"127.0.0.1:{world.stack.ports.imap}", True, "implicit")
    reply = await incoming(world, account)
    failed_at(reply.steps, Step.TLS_INCOMING, Code.TLS_ON_PLAIN_PORT)
    assert "STARTTLS" in by_step(reply.steps)[Step.TLS_INCOMING].message


async def test_plain_imap_on_the_imaps_port_is_plain_on_tls_port(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    await point(world, account, f"127.0.0.1:{world.stack.ports.imaps}", False)
    failed_at(await incoming(world, account), Step.TLS_INCOMING, Code.PLAIN_ON_TLS_PORT)


async def test_plain_pop3_on_the_pop3s_port_is_plain_on_tls_port(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user(), "pop3")
    await point(world, account, f"127.0.0.1:{world.stack.ports.pop3s}", False)
    failed_at(await incoming(world, account), Step.LOGIN_INCOMING, Code.PLAIN_ON_TLS_PORT)


@pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)
async def test_a_bad_certificate_is_diagnosed_by_its_fault(
    world: FetchWorld, faults: TlsFaults, fault: str, code: Code
) -> None:
    with HostileServer(imap_offering("AUTH=PLAIN"), tls=faults.server_context(fault)) as server:
        account = await world.account(world.stack.add_user())
        await point(world, account, f"127.0.0.1:{server.port}", True, "implicit")
        failed_at(await incoming(world, account, faults), Step.TLS_INCOMING, code)


async def _no_heartbeat() -> None:
    return None


@pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)
async def test_a_bad_certificate_fails_a_fetch_for_good_with_the_credentials_tests_reason(
    world: FetchWorld, faults: TlsFaults, fault: str, code: Code
) -> None:
    """#17: one verdict (permanent until the configuration changes) and one reason, in the
    credentials test and in a fetch (IMAP and POP3): scheduled fetches wait for the server row to
    change, then try again."""
    deps = replace(world.deps, ssl_context=faults.client_context(world.stack.ca_file), timeout_s=TIMEOUT_S)
    with HostileServer(imap_offering("AUTH=PLAIN"), tls=faults.server_context(fault)) as server:
        for protocol in ("imap", "pop3"):
            account = await world.account(world.stack.add_user(), protocol)
            await point(world, account, f"127.0.0.1:{server.port}", True, "implicit")
            said = by_step(await incoming(world, account, faults))[Step.TLS_INCOMING]
            assert (said.status, said.code) == (Status.FAILED, code)
            await fetch_account(deps, account, FetchReason.MANUAL, _no_heartbeat)
            state = await fetch_state(world, account)
            assert state is not None
            assert (state.status, state.permanent, state.reason) == ("failed", True, said.message), protocol
            waiting = await fetch_account(deps, account, FetchReason.SCHEDULED, _no_heartbeat)
            assert waiting.reason == f"waiting for a configuration change: {said.message}"
            await point(world, account, f"127.0.0.1:{server.port}", True, "implicit", name=uuid.uuid4().hex)
            tried = await fetch_account(deps, account, FetchReason.SCHEDULED, _no_heartbeat)
            assert tried.reason == said.message, "the server row changed: tried again"


async def test_a_server_without_starttls_is_starttls_unavailable(world: FetchWorld) -> None:
    with HostileServer(imap_offering("AUTH=PLAIN")) as server:
        account = await world.account(world.stack.add_user())
        await point(world, account, f"127.0.0.1:{server.port}", True, "starttls")
        failed_at(await incoming(world, account), Step.TLS_INCOMING, Code.STARTTLS_UNAVAILABLE)


async def test_a_server_with_login_disabled_is_mechanism_unavailable(world: FetchWorld) -> None:
    with HostileServer(imap_offering("LOGINDISABLED")) as server:
        account = await hostile_account(world, server)
        failed_at(await incoming(world, account), Step.LOGIN_INCOMING, Code.MECHANISM_UNAVAILABLE)


async def test_an_oauth_account_on_a_server_without_xoauth2_is_mechanism_unavailable(
    world: FetchWorld,
) -> None:
    """Dovecot of the harness offers PLAIN and LOGIN only; the token is never sent."""
    account = await world.account(world.stack.add_user())
    await make_oauth(world.sessions, account)
    reply = await incoming(world, account, tokens=FixedTokens(None))
    failed_at(reply.steps, Step.LOGIN_INCOMING, Code.MECHANISM_UNAVAILABLE)


@pytest.mark.parametrize(("refusal", "code"), BROKER_REFUSALS)
async def test_the_brokers_refusal_is_oauth_not_connected_or_needs_reconnect(
    world: FetchWorld, refusal: Refusal, code: Code
) -> None:
    account = await world.account(world.stack.add_user())
    await make_oauth(world.sessions, account, state="disconnected")
    reply = await incoming(world, account, tokens=FixedTokens(refusal))
    failed_at(reply.steps, Step.LOGIN_INCOMING, code)
    assert "connect" in by_step(reply.steps)[Step.LOGIN_INCOMING].message


async def test_a_missing_spam_folder_is_folder_missing(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user(), spam_folder="Spam-Nowhere")
    reply = await incoming(world, account)
    failed_at(reply.steps, Step.FOLDERS, Code.FOLDER_MISSING)
    assert "Spam-Nowhere" in by_step(reply.steps)[Step.FOLDERS].message


async def test_the_lease_is_held_for_the_receive_and_released_after_it(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user)
    test_id = uuid.uuid4()
    checker = checks(world)
    reply = await checker.check(IncomingCheckRequest(account_id=account, test_id=test_id, hold_lease_s=60))
    assert isinstance(reply, CheckReply)
    assert reply.lease_token is not None
    assert (await world.fetch(account)).outcome == "busy"  # no fetch while the test waits
    world.stack.seed(user.address, [message_with_token(user.address, test_id)])
    received = await checker.receive(
        ReceiveCheckRequest(
            account_id=account, test_id=test_id, receive_timeout_s=5, lease_token=reply.lease_token
        )
    )
    assert isinstance(received, CheckReply)
    assert [(r.step, r.status) for r in received.steps] == [
        (Step.RECEIVE, Status.OK),
        (Step.CLEANUP, Status.OK),
    ]
    assert "UID EXPUNGE" in received.steps[1].message
    async with world.sessions() as session:
        lease = await session.get(FetchLease, account)
        assert lease is not None
        assert lease.holder != holder(test_id) or lease.expires_at.year == 1970
    assert (await world.fetch(account)).outcome == "done"
    assert await world.stored(account) == []  # deleted on the server before any fetch could see it
    assert await world.outbox_subjects() == []  # no MailFetched


async def test_a_pop3_receive_deletes_the_message(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user, "pop3")
    test_id = uuid.uuid4()
    world.stack.seed(
        user.address,
        [message_with_token(user.address, test_id), message_with_token(user.address, uuid.uuid4())],
    )
    received = await checks(world).receive(
        ReceiveCheckRequest(account_id=account, test_id=test_id, receive_timeout_s=5)
    )
    assert isinstance(received, CheckReply)
    assert [r.status for r in received.steps] == [Status.OK, Status.OK]
    assert on_server(world, user) == 1  # only the other message is left


async def test_a_message_that_never_comes_is_not_received(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    received = await checks(world).receive(
        ReceiveCheckRequest(account_id=account, test_id=uuid.uuid4(), receive_timeout_s=0.5)
    )
    assert isinstance(received, CheckReply)
    assert received.steps[0].code is Code.NOT_RECEIVED
    assert received.steps[1].status is Status.SKIPPED


async def test_an_unknown_account_is_refused(world: FetchWorld) -> None:
    reply = await checks(world).check(IncomingCheckRequest(account_id=uuid.uuid4(), test_id=uuid.uuid4()))
    assert not isinstance(reply, CheckReply)


def message_with_token(to: str, test_id: uuid.UUID) -> bytes:
    return (
        f"From: {to}\r\nTo: {to}\r\nSubject: Mailbridge credentials test {message_token(test_id)}\r\n"
        f"{TEST_HEADER}: {message_token(test_id)}\r\nMessage-ID: <{test_id.hex}@test>\r\n\r\nTest\r\n"
    ).encode()


async def test_the_incoming_check_is_answered_over_nats_in_the_queue_group(
    world: FetchWorld, nats_url: str
) -> None:
    """What config-api asks goes over core NATS; a request that does not parse gets a refusal."""
    user = world.stack.add_user()
    account = await world.account(user)
    async with answering(credential_requests(checks(world)), nats_url) as client:
        request = IncomingCheckRequest(account_id=account, test_id=uuid.uuid4())
        reply = await ask(client, INCOMING_CHECK_SUBJECT, request, timeout_s=10)
        assert isinstance(reply, CheckReply)
        assert all(report.status is Status.OK for report in reply.steps)
        garbage = await client.request(INCOMING_CHECK_SUBJECT, b"{not json", timeout=10)
        assert "bad request" in CheckRefused.model_validate_json(garbage.data).detail
