"""IMAP LOGIN carries any login and password that a quoted string can (#10 item 4): spaces,
quotes and backslashes arrive as they are, in one well-formed command; a line break or NUL is
never sent and ends the fetch as `failed` with the reason, not as a silent `never`."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from fetcher_testing import FetchWorld, message
from hostile_accounts import fast, fetch_state, hostile_account
from mailbridge.common.endpoints import Endpoint
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.fetch_account import Outcome, fetch_account
from mailbridge.fetcher.model import AccountConfig, Credentials
from mailbridge.testkit import hostile_imap
from mailbridge.testkit.hostile import HostileServer

AWKWARD_PASSWORD = 'pa ss "word" \\ with spaces'


async def no_heartbeat() -> None:
    return None


async def test_item4_a_password_with_spaces_quotes_and_a_backslash_logs_in_to_dovecot(
    world: FetchWorld,
) -> None:
    user = world.stack.add_user(password=AWKWARD_PASSWORD)
    world.stack.seed(user.address, [message(1, user.address)])
    for tls_port in ("imaps", "imap"):  # implicit TLS and STARTTLS
        account = await world.account(user, tls_port=tls_port)
        result = await world.fetch(account)
        assert (result.outcome, result.reason) == (Outcome.DONE, None)
        assert result.counts is not None
        assert result.counts.new == 1


async def test_item4_login_and_password_go_out_as_one_well_formed_command(world: FetchWorld) -> None:
    login, password = 'us er"\\x@example.org', 'p "q\\ r'
    with HostileServer(hostile_imap.ImapScript(announced=3, sent=3, size=3)) as server:
        account = await hostile_account(world, server, login, password)
        result = await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
    assert result.outcome is Outcome.DONE, result.reason
    logins = [line for line in server.received if b" LOGIN " in line]
    assert len(logins) == 1
    assert re.fullmatch(rb'[A-Z0-9]+ LOGIN "us er\\"\\\\x@example.org" "p \\"q\\\\ r"', logins[0]), logins[0]
    following = server.received[server.received.index(logins[0]) + 1]
    assert re.fullmatch(rb"[A-Z0-9]+ CAPABILITY", following), "nothing of the password spilled over"


@pytest.mark.parametrize("password", ["secret\r\nA1 DELETE INBOX", "secret\x00", "line\nbreak"])
async def test_item4_a_line_break_or_nul_fails_the_fetch_and_is_never_sent(
    world: FetchWorld, password: str
) -> None:
    with HostileServer(hostile_imap.ImapScript()) as server:
        account = await hostile_account(world, server, password=password)
        result = await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
    state = await fetch_state(world, account)
    assert state is not None
    assert (state.status, state.permanent) == ("failed", True)
    assert state.reason == "the login or password contains a line break or NUL, which IMAP cannot send"
    assert result.outcome is Outcome.DONE, "permanent: acknowledged, not retried"
    assert not [line for line in server.received if b"LOGIN" in line or b"DELETE" in line]


class ExplodingConnections(ImapConnections):
    """A connection pool whose protocol library fails in a way nobody foresaw."""

    @asynccontextmanager
    async def logged_in(
        self, account: AccountConfig, endpoint: Endpoint, credentials: Credentials
    ) -> AsyncIterator[ImapMailbox]:
        if account.login:
            raise ValueError("NUL, CR and LF are not allowed in LOGIN command arguments")
        yield ImapMailbox(endpoint)


async def test_item4_an_unforeseen_exception_is_a_failed_state_with_a_reason(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user)
    deps = replace(world.deps, connections=ExplodingConnections())
    result = await fetch_account(deps, account, FetchReason.MANUAL, no_heartbeat)
    state = await fetch_state(world, account)
    assert state is not None
    assert (state.status, state.permanent) == ("failed", False)
    assert (
        state.reason
        == "unexpected error: ValueError: NUL, CR and LF are not allowed in LOGIN command arguments"
    )
    assert result.outcome is Outcome.RETRY
