"""Faults at the protocol level, from an in-process aiosmtpd told to fail next: each classified
as the taxonomy says, refused recipients recorded one by one, and the pool's connections reused,
bounded, replaced when dead and never used to send a password in clear."""

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from aiosmtplib import SMTP
from mailbridge.common.recipient_states import RecipientState
from mailbridge.sender.adapters.smtp import SmtpPool, send
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Verdict
from mailbridge.sender.ports import Built
from mailbridge.sender.smtp_replies import SmtpResult
from mailbridge.testkit.ports import free_port
from sender_testing import (
    DROP,
    FaultySmtpServer,
    outgoing,
    plain_target,
)

TEMPORARY, PERMANENT, SENT = Verdict.RETRY, Verdict.GIVE_UP, Verdict.DONE


@pytest.fixture
def server() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as running:
        yield running


@pytest.fixture
async def pool() -> AsyncIterator[SmtpPool]:
    pooled = SmtpPool(_context(), timeout_s=5.0, per_key=4, idle_s=30.0, local_hostname="client.test")
    yield pooled
    await pooled.close()


def _context() -> ssl.SSLContext:
    return ssl.create_default_context()


def built(*to: str) -> Built:
    return build_message(outgoing("sender@example.org", to or ("rcpt@example.net",)), datetime.now(UTC))


async def send_plain(server: FaultySmtpServer, mail: Built) -> SmtpResult:
    return await send(plain_target(server.port), mail, _context(), timeout_s=5.0)


REPLIES = [
    ("MAIL", "421 4.3.2 service shutting down", TEMPORARY),
    ("MAIL", "451 4.3.0 local error", TEMPORARY),
    ("RCPT", "450 4.2.1 mailbox busy", TEMPORARY),
    ("DATA", "451 4.3.0 try again later", TEMPORARY),
    ("DATA", "552 5.3.4 message too big for now", TEMPORARY),
    ("MAIL", "553 5.7.1 sender not allowed", PERMANENT),
    ("RCPT", "550 5.1.1 no such user", PERMANENT),
    ("DATA", "554 5.6.0 rejected as spam", PERMANENT),
]


@pytest.mark.parametrize(("stage", "reply", "outcome"), REPLIES)
async def test_replies_are_classified(
    server: FaultySmtpServer, stage: str, reply: str, outcome: Verdict
) -> None:
    server.fail_next(stage, reply)
    result = await send_plain(server, built())
    assert result.outcome is outcome
    assert reply.split()[0] in result.reply
    assert server.received == []


@pytest.mark.parametrize(("stage", "reply", "outcome"), REPLIES)
async def test_replies_are_classified_on_a_reused_connection(
    server: FaultySmtpServer, pool: SmtpPool, stage: str, reply: str, outcome: Verdict
) -> None:
    """A greeted connection writes MAIL and RCPT itself (plain addresses): the same rules."""
    assert (await pool.send(plain_target(server.port), built())).outcome is SENT
    server.fail_next(stage, reply)
    result = await pool.send(plain_target(server.port), built())
    assert result.outcome is outcome
    assert reply.split()[0] in result.reply
    assert (server.connections, len(server.received)) == (1, 1)


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
async def test_a_dropped_connection_is_temporary(server: FaultySmtpServer, stage: str) -> None:
    server.fail_next(stage, DROP)
    result = await send_plain(server, built())
    assert result.outcome is TEMPORARY
    assert "closed the connection" in result.reply


async def test_one_of_two_recipients_refused_is_partial_and_recorded(server: FaultySmtpServer) -> None:
    server.refuse("gone@example.net", "550 5.1.1 <gone@example.net>: no such user")
    result = await send(
        plain_target(server.port), built("ok@example.net", "gone@example.net"), _context(), 5.0
    )
    assert (result.outcome, result.partial) == (SENT, True)
    assert [(r.address, r.code) for r in result.recipients] == [
        ("ok@example.net", 250),
        ("gone@example.net", 550),
    ]
    assert result.delivery().recipients == {
        "ok@example.net": (RecipientState.ACCEPTED, result.delivery().recipients["ok@example.net"][1]),
        "gone@example.net": (
            RecipientState.REFUSED_PERMANENTLY,
            "550 5.1.1 <gone@example.net>: no such user",
        ),
    }
    assert [m.rcpt_tos for m in server.received] == [("ok@example.net",)]


async def test_all_refused_with_one_temporary_is_retried(server: FaultySmtpServer) -> None:
    server.refuse("gone@example.net")
    server.refuse("busy@example.net", "452 4.2.2 mailbox full")
    result = await send(
        plain_target(server.port), built("gone@example.net", "busy@example.net"), _context(), 5.0
    )
    assert result.outcome is TEMPORARY
    assert len(result.recipients) == 2


async def test_unreachable_and_silent_servers_are_temporary_with_their_cause() -> None:
    closed = await send(plain_target(free_port()), built(), _context(), 5.0)
    assert closed.outcome is TEMPORARY
    assert "refused" in closed.reply

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # says nothing, until the client gives up
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        mute = await send(plain_target(port), built(), _context(), 0.5)
    assert mute.outcome is TEMPORARY
    assert "timed out" in mute.reply.lower()


async def test_auto_with_auth_refuses_a_server_without_starttls_and_sends_no_password() -> None:
    with FaultySmtpServer(offer_auth=True) as trap:
        probe = SMTP(hostname="127.0.0.1", port=trap.port, start_tls=False, local_hostname="client.test")
        async with probe:
            await probe.ehlo()
            assert probe.supports_extension("auth"), "the trap offers AUTH in clear"
            assert not probe.supports_extension("starttls")
        target = plain_target(
            trap.port, encryption="auto", auth=True, login="alice@example.org", password="s3cr3t-pw"
        )
        result = await send(target, built(), _context(), 5.0)
        assert result.outcome is PERMANENT
        assert (
            result.reply
            == f"127.0.0.1:{trap.port} does not offer STARTTLS; refusing to send the password in clear"
        )
        assert trap.auth_attempts == 0
        secret = base64.b64encode(b"\0alice@example.org\0s3cr3t-pw")
        assert b"AUTH" not in trap.wire.upper()
        assert b"s3cr3t-pw" not in trap.wire
        assert secret not in trap.wire
        assert base64.b64encode(b"s3cr3t-pw") not in trap.wire
        assert trap.received == []


async def test_pool_reuses_one_connection_for_sequential_sends(
    server: FaultySmtpServer, pool: SmtpPool
) -> None:
    results = [await pool.send(plain_target(server.port), built()) for _ in range(5)]
    assert {r.outcome for r in results} == {SENT}
    assert (server.connections, len(server.received)) == (1, 5)


async def test_pool_bounds_connections_per_key(server: FaultySmtpServer, pool: SmtpPool) -> None:
    results = await asyncio.gather(*(pool.send(plain_target(server.port), built()) for _ in range(20)))
    assert {r.outcome for r in results} == {SENT}
    assert len(server.received) == 20
    assert 1 <= server.connections <= 4


async def test_pool_replaces_a_connection_found_dead_before_data(
    server: FaultySmtpServer, pool: SmtpPool
) -> None:
    assert (await pool.send(plain_target(server.port), built())).outcome is SENT
    server.fail_next("MAIL", DROP)  # the server went away while the connection was idle
    again = await pool.send(plain_target(server.port), built())
    assert again.outcome is SENT
    assert (server.connections, len(server.received)) == (2, 2)


async def test_pool_does_not_resend_after_a_drop_during_data(
    server: FaultySmtpServer, pool: SmtpPool
) -> None:
    assert (await pool.send(plain_target(server.port), built())).outcome is SENT
    server.fail_next("DATA", DROP)  # the data may have been taken: retrying here could send twice
    dropped = await pool.send(plain_target(server.port), built())
    assert dropped.outcome is TEMPORARY
    assert len(server.received) == 1


async def test_pool_closes_idle_connections(server: FaultySmtpServer) -> None:
    pool = SmtpPool(_context(), timeout_s=5.0, idle_s=0.1, local_hostname="client.test")
    try:
        await pool.send(plain_target(server.port), built())
        await asyncio.sleep(0.4)
        await pool.send(plain_target(server.port), built())
    finally:
        await pool.close()
    assert server.connections == 2


async def test_an_address_that_cannot_go_on_the_wire_is_permanent(server: FaultySmtpServer) -> None:
    raw = built().raw  # the builder refuses such an address itself (test_mime); here the wire does
    result = await send_plain(
        server, Built(raw, "<x@example.org>", "sender@example.org", ("jörg@example.net",))
    )
    assert result.outcome is PERMANENT
    assert "cannot be sent" in result.reply


@pytest.mark.parametrize(
    ("raw", "arrives"),
    [
        (b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\nend\r\n", None),  # CRLF throughout: stuffed here
        (b".a first line with a dot\r\n\r\nno line end at the end", b"\r\n"),
        (b"Subject: bare\n\nbare line feeds\n.dot\n", None),  # repaired by aiosmtplib's own DATA
    ],
)
async def test_data_arrives_as_written_lines_with_dots_included(
    server: FaultySmtpServer, raw: bytes, arrives: bytes | None
) -> None:
    result = await send_plain(
        server, Built(raw, "<dots@example.org>", "sender@example.org", ("rcpt@example.net",))
    )
    assert result.outcome is SENT
    assert [r.data for r in server.received] == [
        raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + (arrives or b"")
    ]


async def test_pool_comes_down_to_the_connections_a_server_allows(pool: SmtpPool) -> None:
    """A server that takes two connections per client refuses the third with a 421: the mail
    waits for one of the two instead of failing, and later mails stay within two."""
    with FaultySmtpServer(max_connections=2) as limited:
        results = await asyncio.gather(*(pool.send(plain_target(limited.port), built()) for _ in range(20)))
        assert {r.outcome for r in results} == {SENT}
        assert (len(limited.received), limited.most_open) == (20, 2)
        refused = limited.connections - 2
        assert 1 <= refused <= 2, "the pool stopped opening connections the server refuses"
        more = await asyncio.gather(*(pool.send(plain_target(limited.port), built()) for _ in range(20)))
        assert {r.outcome for r in more} == {SENT}
        assert limited.connections - 2 == refused, "no connection beyond the server's limit tried again"


async def test_a_server_that_refuses_every_connection_is_a_temporary_failure(pool: SmtpPool) -> None:
    with FaultySmtpServer(max_connections=0) as closed:
        result = await pool.send(plain_target(closed.port), built())
    assert result.outcome is TEMPORARY
    assert "421" in result.reply


async def test_the_pool_bound_returns_once_its_connections_were_quit(server: FaultySmtpServer) -> None:
    pool = SmtpPool(_context(), timeout_s=5.0, per_key=4, idle_s=0.1, local_hostname="client.test")
    try:
        server.allow(1)
        first = await asyncio.gather(*(pool.send(plain_target(server.port), built()) for _ in range(6)))
        assert {r.outcome for r in first} == {SENT}
        assert server.most_open == 1
        server.allow(None)
        await asyncio.sleep(0.4)  # every connection of the key quit for idleness
        again = await asyncio.gather(*(pool.send(plain_target(server.port), built()) for _ in range(12)))
    finally:
        await pool.close()
    assert {r.outcome for r in again} == {SENT}
    assert server.most_open > 1, "the full bound is back"
