"""The POP3 adapter against hostile servers (#10 items 3, 4 and 9): nothing but the expected
commands reach the wire, every failure ends as a FetchFailure with a short printable reason
within the timeout, and an answer that never ends costs bounded memory."""

import os
import ssl
import time
from collections.abc import AsyncIterator

import pytest
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.fetcher.adapters.pop3 import Pop3Mailbox
from mailbridge.fetcher.failures import FetchFailure, Kind
from mailbridge.testkit import hostile_pop3
from mailbridge.testkit.hostile import Conversation, HostileServer, Script
from mailbridge.testkit.proc_stats import peak_rss_mb, reset_peak_rss
from mailbridge.testkit.tls import ensure_tls_files

TIMEOUT_S = 1.0
BOUND_S = 15.0  # generous: every failure here comes after about one timeout
MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\n.dot line\r\nbody\r\n"


def server_context() -> ssl.SSLContext:
    files = ensure_tls_files()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.server_cert, files.server_key)
    return context


def mailbox(server: HostileServer, security: TransportSecurity = TransportSecurity.NONE) -> Pop3Mailbox:
    client_context = ensure_tls_files().client_context()
    return Pop3Mailbox(Endpoint(server.host, server.port, security, client_context, TIMEOUT_S))


@pytest.fixture
async def recorded() -> AsyncIterator[HostileServer]:
    with HostileServer(hostile_pop3.pop3([MESSAGE, b"Subject: two\r\n\r\n2\r\n"])) as server:
        yield server


async def test_a_session_sends_exactly_the_expected_commands(recorded: HostileServer) -> None:
    session = mailbox(recorded)
    await session.connect_and_login("ann@example.org", "pa ss wörd")
    listed = await session.listing()
    assert [(m.number, m.uidl) for m in listed] == [(1, "uid-1"), (2, "uid-2")]
    assert await session.retrieve(1, 1024) == MESSAGE, "dot-unstuffed, CRLF kept, byte-exact"
    await session.delete_and_quit([2])
    assert recorded.received == [
        b"CAPA", b"USER ann@example.org", "PASS pa ss wörd".encode(), b"LIST", b"UIDL", b"RETR 1",
        b"DELE 2", b"QUIT",
    ]  # fmt: skip
    assert session.capabilities.offers("UIDL")


@pytest.mark.parametrize(
    ("login", "password", "field"),
    [("evil\r\nDELE 1", "secret", "login"), ("ann", "secret\r\nDELE 1", "password"),
     ("ann\n", "x", "login"), ("ann", "pass\x00word", "password"), ("ann", "pass\x85", "password")],
)  # fmt: skip
async def test_a_control_character_in_login_or_password_never_reaches_the_wire(
    recorded: HostileServer, login: str, password: str, field: str
) -> None:
    session = mailbox(recorded)
    with pytest.raises(FetchFailure) as failed:
        await session.connect_and_login(login, password)
    assert failed.value.kind is Kind.PERMANENT
    assert f"the account's {field} contains a control character" in failed.value.reason
    assert "secret" not in failed.value.reason
    await session.close()
    assert recorded.conversations == [], "refused before connecting"


async def test_stls_then_the_same_commands_over_tls() -> None:
    with HostileServer(hostile_pop3.pop3([MESSAGE], tls=server_context())) as server:
        session = mailbox(server, TransportSecurity.STARTTLS)
        await session.connect_and_login("ann", "pw")
        assert [m.uidl for m in await session.listing()] == ["uid-1"]
        await session.close()
    assert server.received == [
        b"CAPA",
        b"STLS",
        b"CAPA",
        b"USER ann",
        b"PASS pw",
        b"LIST",
        b"UIDL",
        b"RSET",
        b"QUIT",
    ]


def assert_readable(reason: str) -> None:
    assert len(reason) <= 300
    assert reason.isprintable(), reason


async def whole_session(session: Pop3Mailbox) -> None:
    try:
        await session.connect_and_login("ann", "pw")
        listed = await session.listing()
        await session.retrieve(listed[0].number, 8 * 1024 * 1024)
    finally:
        await session.close()


async def failure_of(script: Script, security: TransportSecurity = TransportSecurity.NONE,
                     tls: ssl.SSLContext | None = None) -> tuple[FetchFailure, float]:  # fmt: skip
    """Connect, log in, list and retrieve the first message; the failure and how long it took."""
    with HostileServer(script, tls=tls) as server:
        session = mailbox(server, security)
        started = time.monotonic()
        with pytest.raises(FetchFailure) as failed:
            await whole_session(session)
        elapsed = time.monotonic() - started
    assert_readable(failed.value.reason)
    assert elapsed < BOUND_S
    return failed.value, elapsed


async def test_silent_after_greeting_fails_after_the_timeout() -> None:
    failure, elapsed = await failure_of(hostile_pop3.silent_after_greeting)
    assert failure.kind is Kind.TRANSIENT
    assert "127.0.0.1:" in failure.reason
    assert "CAPA" in failure.reason
    assert elapsed >= TIMEOUT_S * 0.9


async def test_silent_after_an_implicit_tls_handshake_fails_after_the_timeout() -> None:
    failure, _ = await failure_of(
        hostile_pop3.hang_silently, TransportSecurity.IMPLICIT_TLS, server_context()
    )
    assert "greeting" in failure.reason


async def test_a_tls_handshake_that_never_comes_fails_after_the_timeout() -> None:
    failure, _ = await failure_of(hostile_pop3.hang_silently, TransportSecurity.IMPLICIT_TLS)
    assert failure.kind is Kind.TRANSIENT
    assert "greeting" in failure.reason


async def test_stls_then_silence_fails_after_the_timeout() -> None:
    failure, _ = await failure_of(hostile_pop3.stls_then_silence, TransportSecurity.STARTTLS)
    assert "STLS" in failure.reason


async def test_a_garbage_greeting_is_named_escaped_and_says_nothing_of_tls() -> None:
    failure, _ = await failure_of(hostile_pop3.garbage_greeting)
    assert failure.kind is Kind.PERMANENT
    assert "does not answer like a POP3 server" in failure.reason
    assert "TLS" not in failure.reason
    assert "\\x00" in failure.reason


async def test_a_garbage_greeting_over_implicit_tls_says_so() -> None:
    failure, _ = await failure_of(
        hostile_pop3.garbage_greeting, TransportSecurity.IMPLICIT_TLS, server_context()
    )
    assert "does not answer like a POP3 server over TLS" in failure.reason


async def test_garbage_after_the_greeting() -> None:
    failure, _ = await failure_of(hostile_pop3.garbage_after_greeting)
    assert "answered CAPA with something that is not POP3" in failure.reason
    assert "TLS" not in failure.reason


async def test_a_greeting_that_never_ends() -> None:
    failure, _ = await failure_of(hostile_pop3.endless_greeting)
    assert "line longer than POP3 allows during the greeting" in failure.reason


async def test_a_trickled_greeting_is_cut() -> None:
    failure, _ = await failure_of(hostile_pop3.trickled_greeting)
    assert "too slow during the greeting" in failure.reason


async def test_a_trickled_retr_is_cut() -> None:
    failure, _ = await failure_of(hostile_pop3.pop3([MESSAGE], retr=hostile_pop3.retr_trickle))
    assert "too slow during RETR 1" in failure.reason


async def test_a_listing_that_does_not_parse() -> None:
    failure, _ = await failure_of(hostile_pop3.pop3([MESSAGE], sizes=[]))
    assert "listing that does not add up" in failure.reason


async def _garbage_listing(conversation: Conversation) -> None:
    await conversation.send(hostile_pop3.GREETING)
    while True:
        verb = await conversation.line()
        answer = b"+OK\r\n\x00 not a\xff listing\r\n.\r\n" if verb in (b"LIST", b"UIDL") else b"+OK\r\n"
        await conversation.send(b"-ERR no CAPA\r\n" if verb == b"CAPA" else answer)


async def test_a_listing_line_that_does_not_parse() -> None:
    failure, _ = await failure_of(_garbage_listing)
    assert "listing that does not add up: LIST line is not 'number value'" in failure.reason
    assert "\\x00" in failure.reason


async def test_a_retr_that_never_ends_is_aborted_with_memory_bounded() -> None:
    reset_peak_rss(os.getpid())
    before = peak_rss_mb(os.getpid())
    failure, _ = await failure_of(hostile_pop3.pop3([MESSAGE], retr=hostile_pop3.retr_forever))
    assert "sent too much in answer to RETR 1" in failure.reason
    assert peak_rss_mb(os.getpid()) - before < 100, "8 MB allowed; poplib would keep every line"
