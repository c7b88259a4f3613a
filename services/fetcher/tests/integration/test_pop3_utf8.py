"""POP3 against a scripted maildrop that plays Courier (#11 finding 1): UTF8 (RFC 6856) is sent
when offered, and a server's stand-in for a message is a failure for that message — never
stored, never deleted (S11), not marked seen, fetched by a later poll — while the rest of the
maildrop is fetched as usual. Each test runs on SQLite and PostgreSQL (`world`)."""

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from fetcher_testing import FetchWorld
from mailbridge.common.db.mailstore import FetchState, Pop3Seen
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.hostile_pop3 import Maildrop
from sqlalchemy import select

UTF8_HEADERS = "From: Jürgen Müller <j@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n".encode()
ASCII = b"From: ann@example.org\r\nSubject: plain\r\n\r\nhello\r\n"
COURIER_CAPA = (b"TOP", b"USER", b"UIDL", b"UTF8 USER")


@contextmanager
def serving(maildrop: Maildrop) -> Iterator[HostileServer]:
    with HostileServer(maildrop) as server:
        yield server


async def seen_uidls(world: FetchWorld, account: uuid.UUID) -> set[str]:
    async with world.sessions() as session:
        return set(await session.scalars(select(Pop3Seen.uidl).where(Pop3Seen.account_id == account)))


async def state(world: FetchWorld, account: uuid.UUID) -> FetchState:
    async with world.sessions() as session:
        found = await session.get(FetchState, account)
    assert found is not None
    return found


async def test_s11_utf8_sent_when_offered_the_original_is_stored_and_deleted_after_load(
    world: FetchWorld,
    scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]],
) -> None:
    """#11 finding 1, S7/S11: UTF8 goes before USER; the 8-bit original arrives byte-exact."""
    maildrop = Maildrop([UTF8_HEADERS, ASCII], COURIER_CAPA)
    with serving(maildrop) as server:
        account = await scripted_pop3_account(server, delete_after_fetch=True)
        result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert result.counts is not None
    assert (result.counts.new, result.counts.deleted_on_server, result.counts.failed) == (2, 2, [])
    assert server.received[:3] == [b"CAPA", b"UTF8", b"USER user@example.org"]
    assert sorted(m.raw for m in await world.stored(account)) == sorted([UTF8_HEADERS, ASCII])
    assert (maildrop.left, sorted(maildrop.deleted)) == ([], sorted([UTF8_HEADERS, ASCII]))
    assert (await state(world, account)).status == "ok"


async def test_s11_a_stand_in_is_a_failure_for_that_message_and_nothing_of_it_is_stored_or_deleted(
    world: FetchWorld,
    scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]],
) -> None:
    """#11 finding 1, S7/S11: the server takes UTF8 and serves Courier's stand-in all the same:
    the message is counted as failed with a reason naming the substitution, not stored, not
    deleted (delete-after-load deletes only the ASCII message), its UIDL not taken as seen; once
    the server serves the original, the next poll stores it and deletes it."""
    maildrop = Maildrop([UTF8_HEADERS, ASCII], COURIER_CAPA, honours_utf8=False)
    with serving(maildrop) as server:
        account = await scripted_pop3_account(server, delete_after_fetch=True)
        result = await world.fetch(account)
        assert result.outcome is Outcome.DONE
        assert result.counts is not None
        assert (result.counts.new, result.counts.deleted_on_server) == (1, 1)
        [failed] = result.counts.failed
        assert (failed["uidl"], failed["number"]) == ("uid-1", 1)
        assert failed["reason"].startswith("Courier POP3 sent a stand-in instead of the message")
        assert result.reason == f"1 message(s) not fetched: {failed['reason']}"
        recorded = await state(world, account)
        assert (recorded.status, recorded.reason, recorded.permanent) == ("partial", result.reason, False)
        assert recorded.counts["failed"] == [failed]
        assert [m.raw for m in await world.stored(account)] == [ASCII]
        assert maildrop.left == [UTF8_HEADERS], "the original stays on the server"
        assert await seen_uidls(world, account) == {"uid-2"}

        maildrop.honours_utf8 = True
        again = await world.fetch(account)
    assert again.counts is not None
    assert (again.counts.new, again.counts.deleted_on_server, again.counts.failed) == (1, 1, [])
    assert sorted(m.raw for m in await world.stored(account)) == sorted([UTF8_HEADERS, ASCII])
    assert maildrop.left == []


async def test_a_server_without_utf8_serving_a_stand_in_keeps_the_message_too(
    world: FetchWorld, scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    """#11 finding 1: no UTF8 in CAPA, so none is sent; the stand-in is still recognised."""
    maildrop = Maildrop([UTF8_HEADERS], (b"USER", b"UIDL"))
    with serving(maildrop) as server:
        account = await scripted_pop3_account(server, delete_after_fetch=True)
        result = await world.fetch(account)
    assert b"UTF8" not in server.received
    assert result.counts is not None
    assert (result.counts.new, len(result.counts.failed), result.counts.deleted_on_server) == (0, 1, 0)
    assert (await world.stored(account), maildrop.left) == ([], [UTF8_HEADERS])


async def test_utf8_refused_is_not_a_failed_login(
    world: FetchWorld, scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    """#11: a -ERR to UTF8 leaves the session as it was; ASCII mail is fetched as ever."""
    maildrop = Maildrop([ASCII], COURIER_CAPA, utf8_reply=b"-ERR not now")
    with serving(maildrop) as server:
        account = await scripted_pop3_account(server)
        result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert server.received[:4] == [b"CAPA", b"UTF8", b"USER user@example.org", b"PASS pw"]
    assert [m.raw for m in await world.stored(account)] == [ASCII]
