"""The sender's side of the credentials test (T1, O5) against real servers set up to fail one way
each: the harness's Postfix (submission, smtps), a closed loopback port, a silent server, TLS
servers with a bad certificate, scripted SMTP servers; and the test send, which reaches the
account's own inbox, is marked automatic and leaves no outbox row and no Sent copy."""

import email
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from mailbridge.common.credential_checks import (
    OUTGOING_CHECK_SUBJECT,
    OUTGOING_STEPS,
    TEST_HEADER,
    CheckReply,
    Code,
    OutgoingCheckRequest,
    Status,
    Step,
    ask,
    message_token,
)
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.oauth_requests import Refusal
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.sender.adapters.credential_outgoing import OutgoingChecks
from mailbridge.sender.adapters.smtp import send
from mailbridge.sender.credential_requests import credential_requests
from mailbridge.sender.model import Verdict
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Built
from mailbridge.testkit.config_rows import add_account, empty_tables, make_oauth
from mailbridge.testkit.credential_fixtures import BROKER_REFUSALS, CERTIFICATE_FAULTS, answering
from mailbridge.testkit.credential_reports import by_step, failed_at
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.hostile_smtp import smtp
from mailbridge.testkit.ports import free_port
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.tls_faults import TlsFaults
from mailbridge.testkit.token_desk import FixedTokens
from mailbridge.testkit.users import MailUser
from sender_testing import FaultySmtpServer, delivered
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

TIMEOUT_S = 1.0


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    stack: MailStack

    async def account(self, user: MailUser, host: str, encryption: str, *, auth: bool = True,
                      password: str | None = None, **server: Any) -> uuid.UUID:  # fmt: skip
        rows = await add_account(
            self.sessions, smtp_host=host, login=user.address, address=user.address,
            password_encrypted=self.secrets.encrypt(password or user.password),
            server={"smtp_encryption": encryption, "smtp_auth": auth, **server},
        )  # fmt: skip
        return rows.account_id

    def checks(self, faults: TlsFaults | None = None, tokens: FixedTokens | None = None) -> OutgoingChecks:
        tls = self.stack.client_context() if faults is None else faults.client_context(self.stack.ca_file)
        return OutgoingChecks(
            self.sessions, self.secrets, tokens or FixedTokens(Refusal.UNAVAILABLE), tls, TIMEOUT_S
        )

    async def check(self, account: uuid.UUID, faults: TlsFaults | None = None, tokens: FixedTokens | None = None,
                    test_id: uuid.UUID | None = None) -> CheckReply:  # fmt: skip
        request = OutgoingCheckRequest(account_id=account, test_id=test_id or uuid.uuid4())
        reply = await self.checks(faults, tokens).check(request)
        assert isinstance(reply, CheckReply)
        assert tuple(report.step for report in reply.steps) == OUTGOING_STEPS
        return reply


@pytest.fixture
async def world(database_url: str, mail_stack: MailStack) -> AsyncIterator[World]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    yield World(sessions, SecretBox([generate_key()]), mail_stack)
    await engine.dispose()


def at(world: World, port_name: str) -> str:
    return f"127.0.0.1:{getattr(world.stack.ports, port_name)}"


async def test_submission_with_starttls_sends_the_marked_test_message_to_the_own_inbox(world: World) -> None:
    user = world.stack.add_user()
    account = await world.account(user, at(world, "submission"), "auto")
    test_id = uuid.uuid4()
    reply = await world.check(account, test_id=test_id)
    assert all(report.status is Status.OK for report in reply.steps), reply.steps
    assert "STARTTLS" in by_step(reply.steps)[Step.TLS_OUTGOING].message
    world.stack.wait_for_messages(user.address, 1)
    message = email.message_from_bytes(delivered(world.stack, user)[0])
    assert message[TEST_HEADER] == message_token(test_id)
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834: no out-of-office answers it
    assert message["From"] == message["To"] == user.address
    assert delivered(world.stack, user, "Sent") == []  # never appended to the Sent folder
    async with world.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # no outbox row


async def test_an_account_that_may_not_send_logs_in_and_sends_nothing(world: World) -> None:
    user = world.stack.add_user()
    account = await world.account(user, at(world, "submission"), "auto")
    request = OutgoingCheckRequest(account_id=account, test_id=uuid.uuid4(), send=False)
    reply = await world.checks().check(request)
    assert isinstance(reply, CheckReply)
    assert [r.status for r in reply.steps] == [Status.OK, Status.OK, Status.OK, Status.SKIPPED]
    assert "can_send" in reply.steps[-1].message


async def test_smtps_passes_every_step(world: World) -> None:
    user = world.stack.add_user()
    reply = await world.check(await world.account(user, at(world, "smtps"), "ssl"))
    assert all(report.status is Status.OK for report in reply.steps), reply.steps


async def test_wrong_password_is_auth_failed_and_nothing_is_sent(world: World) -> None:
    user = world.stack.add_user()
    account = await world.account(user, at(world, "submission"), "auto", password="not-the-password")
    failed_at(await world.check(account), Step.LOGIN_OUTGOING, Code.AUTH_FAILED)


async def test_a_host_under_invalid_is_unknown_host(world: World) -> None:
    account = await world.account(world.stack.add_user(), "smtp.example.invalid:587", "auto")
    failed_at(await world.check(account), Step.CONNECT_OUTGOING, Code.UNKNOWN_HOST)


async def test_a_closed_port_is_connection_refused(world: World) -> None:
    account = await world.account(world.stack.add_user(), f"127.0.0.1:{free_port()}", "auto")
    failed_at(await world.check(account), Step.CONNECT_OUTGOING, Code.CONNECTION_REFUSED)


async def test_a_silent_server_is_a_timeout(world: World, silent: HostileServer) -> None:
    account = await world.account(world.stack.add_user(), f"127.0.0.1:{silent.port}", "auto")
    failed_at(await world.check(account), Step.TLS_OUTGOING, Code.TIMEOUT)


async def test_implicit_tls_on_the_submission_port_is_tls_on_plain_port(world: World) -> None:
    account = await world.account(world.stack.add_user(), at(world, "submission"), "ssl")
    failed_at(await world.check(account), Step.TLS_OUTGOING, Code.TLS_ON_PLAIN_PORT)


async def test_starttls_on_the_smtps_port_is_plain_on_tls_port(world: World) -> None:
    account = await world.account(world.stack.add_user(), at(world, "smtps"), "auto")
    failed_at(await world.check(account), Step.TLS_OUTGOING, Code.PLAIN_ON_TLS_PORT)


@pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)
async def test_a_bad_certificate_is_diagnosed_by_its_fault(
    world: World, faults: TlsFaults, fault: str, code: Code
) -> None:
    with HostileServer(smtp(), tls=faults.server_context(fault)) as server:
        account = await world.account(world.stack.add_user(), f"127.0.0.1:{server.port}", "ssl")
        failed_at(await world.check(account, faults), Step.TLS_OUTGOING, code)


@pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)
async def test_a_bad_certificate_fails_a_send_for_good_with_the_credentials_tests_reason(
    world: World, faults: TlsFaults, fault: str, code: Code
) -> None:
    """#17: one verdict and one reason: the send is not retried (a certificate does not get better
    within a backoff), and says what the credentials test says, word for word."""
    with HostileServer(smtp(), tls=faults.server_context(fault)) as server:
        account = await world.account(world.stack.add_user(), f"127.0.0.1:{server.port}", "ssl")
        said = by_step(await world.check(account, faults))[Step.TLS_OUTGOING]
        assert (said.status, said.code) == (Status.FAILED, code)
        target = SmtpTarget("127.0.0.1", server.port, "ssl", False, "", None)
        built = Built(b"Subject: hi\r\n\r\nhi\r\n", "", "a@example.org", ("b@example.org",))
        result = await send(target, built, faults.client_context(world.stack.ca_file), TIMEOUT_S)
    assert (result.outcome, result.reply) == (Verdict.GIVE_UP, said.message)


async def test_a_server_without_starttls_is_starttls_unavailable(world: World) -> None:
    with HostileServer(smtp()) as server:
        account = await world.account(world.stack.add_user(), f"127.0.0.1:{server.port}", "auto")
        failed_at(await world.check(account), Step.TLS_OUTGOING, Code.STARTTLS_UNAVAILABLE)


async def test_a_server_without_auth_is_mechanism_unavailable(world: World) -> None:
    with HostileServer(smtp()) as server:
        account = await world.account(world.stack.add_user(), f"127.0.0.1:{server.port}", "none")
        failed_at(await world.check(account), Step.LOGIN_OUTGOING, Code.MECHANISM_UNAVAILABLE)


async def test_a_refused_recipient_is_send_rejected(world: World) -> None:
    with FaultySmtpServer() as server:
        server.fail_next("RCPT", "550 5.1.1 no such mailbox")
        account = await world.account(world.stack.add_user(), f"127.0.0.1:{server.port}", "none", auth=False)
        reply = await world.check(account)
        failed_at(reply.steps, Step.SEND, Code.SEND_REJECTED)
        assert "550" in by_step(reply.steps)[Step.SEND].message


@pytest.mark.parametrize(("refusal", "code"), BROKER_REFUSALS)
async def test_the_brokers_refusal_is_oauth_not_connected_or_needs_reconnect(
    world: World, refusal: Refusal, code: Code
) -> None:
    account = await world.account(world.stack.add_user(), at(world, "submission"), "auto")
    await make_oauth(world.sessions, account)
    failed_at(await world.check(account, tokens=FixedTokens(refusal)), Step.LOGIN_OUTGOING, code)


async def test_an_oauth_account_on_postfix_without_xoauth2_is_mechanism_unavailable(world: World) -> None:
    account = await world.account(world.stack.add_user(), at(world, "submission"), "auto")
    await make_oauth(world.sessions, account)
    failed_at(
        await world.check(account, tokens=FixedTokens()), Step.LOGIN_OUTGOING, Code.MECHANISM_UNAVAILABLE
    )


async def test_the_outgoing_check_is_answered_over_nats(world: World, nats_url: str) -> None:
    user = world.stack.add_user()
    account = await world.account(user, at(world, "submission"), "auto")
    async with answering(credential_requests(world.checks()), nats_url) as client:
        request = OutgoingCheckRequest(account_id=account, test_id=uuid.uuid4())
        reply = await ask(client, OUTGOING_CHECK_SUBJECT, request, timeout_s=10)
        assert isinstance(reply, CheckReply)
        assert [report.status for report in reply.steps] == [Status.OK] * 4
