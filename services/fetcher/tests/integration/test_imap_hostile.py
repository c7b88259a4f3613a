"""The IMAP fetch against servers that hang, babble, flood or are not IMAP at all (#10 items 1,
3, 9): every fetch ends within its deadline with a `failed` state and a reason a person can act
on, and the fetcher's memory stays bounded whatever the server sends."""

import gc
import logging
import time
from collections.abc import Iterator

import pytest
from fetcher_testing import FetchWorld
from hostile_accounts import STEP_TIMEOUT_S, fast, fetch_state, hostile_account, peak_mb, reset_peak, rss_mb
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.fetch_account import fetch_account
from mailbridge.testkit import hostile_imap
from mailbridge.testkit.hostile import HostileServer, Script

CONNECT_BOUND_S = 2 * STEP_TIMEOUT_S + 2  # connect+login is bounded by twice the step, plus grace


async def no_heartbeat() -> None:
    return None


@pytest.fixture(autouse=True)
def no_unretrieved_exceptions(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Item 9: nothing is left in a task or future for asyncio to complain about later."""
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        yield
        gc.collect()
    unretrieved = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert unretrieved == []


async def failed_within(world: FetchWorld, script: Script, bound_s: float) -> tuple[str, bool, HostileServer]:
    """Fetch an account on a server running `script`: the fetch state's reason and permanence."""
    with HostileServer(script) as server:
        account = await hostile_account(world, server)
        started = time.monotonic()
        await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
        took = time.monotonic() - started
    state = await fetch_state(world, account)
    assert state is not None
    assert state.status == "failed", state.reason
    assert state.reason is not None
    assert took < bound_s, f"took {took:.1f} s: {state.reason}"
    assert state.reason.isprintable(), state.reason
    assert len(state.reason) <= 300, state.reason
    return state.reason, state.permanent, server


async def test_item1_a_server_silent_after_its_greeting_fails_within_the_deadline(world: FetchWorld) -> None:
    reason, permanent, _ = await failed_within(world, hostile_imap.silent_after_greeting, CONNECT_BOUND_S)
    assert "cannot connect to 127.0.0.1:" in reason
    assert "no answer to CAPABILITY within 1 s" in reason
    assert not permanent, "a server that hangs may recover"


async def test_item1_garbage_after_the_greeting_fails_within_the_deadline(
    world: FetchWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        reason, _, _ = await failed_within(world, hostile_imap.garbage_after_greeting, CONNECT_BOUND_S)
    assert "no answer to CAPABILITY" in reason
    assert not [r for r in caplog.records if "garbage" in r.getMessage()], "noise is not logged at INFO"


async def test_item1_a_trickling_greeting_fails_within_the_deadline(world: FetchWorld) -> None:
    reason, _, _ = await failed_within(world, hostile_imap.trickling_greeting, CONNECT_BOUND_S)
    assert "no answer to the greeting within 1 s" in reason


async def test_item9_a_greeting_with_ok_somewhere_is_not_an_imap_greeting(world: FetchWorld) -> None:
    reason, permanent, _ = await failed_within(world, hostile_imap.garbage_greeting, 1.0)
    assert reason.endswith("the server did not greet like an IMAP server (it said: garbage OK garbage)")
    assert permanent


async def test_item9_an_ssh_server_on_the_imap_port_is_named_at_once(world: FetchWorld) -> None:
    reason, permanent, server = await failed_within(world, hostile_imap.banner(), 1.0)
    assert reason == (
        f"cannot connect to 127.0.0.1:{server.port}: the server did not greet like an IMAP server "
        "(it said: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3)"
    )
    assert permanent


async def test_item9_binary_and_long_answers_are_escaped_and_cut(world: FetchWorld) -> None:
    noise = b"\x00\xff\x1b[31m\x7f" + b"z" * 1000
    reason, _, _ = await failed_within(world, hostile_imap.banner(noise), 1.0)
    assert "(it said: \\x00\\xff\\x1b[31m\\x7fzzz" in reason
    assert reason.endswith("…)")


async def test_item9_an_unknown_tagged_answer_is_a_failure_with_a_reason(world: FetchWorld) -> None:
    reason, _, _ = await failed_within(world, hostile_imap.unknown_tag, CONNECT_BOUND_S)
    assert "the server's answer made no sense" in reason


async def test_item3_a_greeting_without_line_end_fails_and_memory_stays_bounded(world: FetchWorld) -> None:
    before = rss_mb()
    reset_peak()
    reason, _, server = await failed_within(world, hostile_imap.endless_greeting, CONNECT_BOUND_S)
    assert "the server sent a line longer than 8388608 bytes" in reason
    assert peak_mb() - before < 256
    assert rss_mb() - before < 64, "the buffers went with the connection"
    assert not server.received, "nothing was sent to a server that never finished its greeting"


async def test_item3_a_two_gigabyte_literal_is_refused_unallocated(world: FetchWorld) -> None:
    before = rss_mb()
    reset_peak()
    script = hostile_imap.ImapScript(announced=2_000_000_000, size=1000)
    reason, _, _ = await failed_within(world, script, CONNECT_BOUND_S + STEP_TIMEOUT_S)
    assert (
        "IMAP FETCH failed: the server announced 2000000000 bytes where at most 67536 were expected" in reason
    )
    assert peak_mb() - before < 256
    assert rss_mb() - before < 64


async def test_item3_a_literal_in_a_size_answer_is_refused_too(world: FetchWorld) -> None:
    """The same 2 GB literal where only sizes were asked for: at most 1 MiB is allowed there."""
    reset_peak()
    before = rss_mb()
    script = hostile_imap.ImapScript(announced=2_000_000_000, size=1000, sizes_literal=True)
    reason, _, _ = await failed_within(world, script, CONNECT_BOUND_S + STEP_TIMEOUT_S)
    assert "where at most 1048576 were expected" in reason
    assert peak_mb() - before < 256


async def test_item1_a_trickling_body_fails_within_its_deadline(world: FetchWorld) -> None:
    script = hostile_imap.ImapScript(announced=100_000, size=100_000, chunk=1, delay_s=0.05)
    reason, _, _ = await failed_within(world, script, CONNECT_BOUND_S + STEP_TIMEOUT_S + 2)
    assert "IMAP FETCH failed: no answer to FETCH within" in reason


async def test_item3_a_literal_longer_than_its_bytes_fails_by_the_deadline(world: FetchWorld) -> None:
    script = hostile_imap.ImapScript(announced=1000, sent=10, size=1000)
    reason, _, _ = await failed_within(world, script, CONNECT_BOUND_S + STEP_TIMEOUT_S + 2)
    assert "IMAP FETCH failed: the server stopped sending for 1 s" in reason


async def test_item3_a_message_over_the_maximum_is_skipped_listed_and_passed(world: FetchWorld) -> None:
    script = hostile_imap.ImapScript(announced=2_000_000_000, size=2_000_000_000)
    with HostileServer(script) as server:
        account = await hostile_account(world, server)
        await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
        again = await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
    state = await fetch_state(world, account)
    assert state is not None
    assert (state.status, state.new_messages) == ("ok", 0)
    assert again.counts is not None
    assert again.counts.skipped == [], "the cursor passed it: listed once"
    fetched = [line for line in server.received if b"BODY" in line.upper()]
    assert fetched == [], "the body was never asked for"
    skipped_once = [line for line in server.received if b"RFC822.SIZE" in line]
    assert len(skipped_once) == 1, server.received


async def test_item3_the_skipped_message_is_in_the_fetch_state(world: FetchWorld) -> None:
    script = hostile_imap.ImapScript(announced=2_000_000_000, size=2_000_000_000)
    with HostileServer(script) as server:
        account = await hostile_account(world, server)
        await fetch_account(fast(world), account, FetchReason.MANUAL, no_heartbeat)
    state = await fetch_state(world, account)
    assert state is not None
    assert state.counts["skipped"] == [{
        "folder": "INBOX", "uid": 1, "size": 2_000_000_000,
        "reason": "larger than the maximum message size of 104857600 bytes",
    }]  # fmt: skip
