"""POP3 on a server without UIDL (RFC 1939 makes it optional; #11): messages are told apart by
their header blocks (TOP n 0 where the server has TOP, else the RETRieved message), so polls
bring no duplicates and lose nothing (S7, G5), and delete-after-load (S11) still deletes exactly
what was stored. Scripted maildrops; each test on SQLite and PostgreSQL."""

import uuid
from collections.abc import Awaitable, Callable

import pytest
from fetcher_testing import FetchWorld
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.hostile_pop3 import Maildrop


def mail(index: int) -> bytes:
    return f"Message-ID: <{index}@example.org>\r\nSubject: {index}\r\n\r\nbody {index}\r\n".encode()


@pytest.mark.parametrize("capabilities", [(b"USER",), (b"USER", b"TOP")], ids=["no-top", "top"])
async def test_s7_g5_without_uidl_polls_bring_no_duplicates_and_new_mail_arrives(
    world: FetchWorld,
    scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]],
    capabilities: tuple[bytes, ...],
) -> None:
    twin = mail(2)
    maildrop = Maildrop([mail(1), twin, twin], capabilities)  # delivered twice, byte for byte
    with HostileServer(maildrop) as server:
        account = await scripted_pop3_account(server)
        first = await world.fetch(account)
        assert (first.outcome, first.reason) == (Outcome.DONE, None)
        assert first.counts is not None
        assert (first.counts.new, first.counts.folders) == (3, {"INBOX": 3})
        maildrop.messages.append(mail(3))
        maildrop.uidls.append(b"internal-4")
        server.conversations.clear()
        second = await world.fetch(account)
        assert second.counts is not None
        assert second.counts.new == 1
        retrieved = [line for line in server.received if line.startswith(b"RETR")]
        if b"TOP" in capabilities:
            assert retrieved == [b"RETR 4"], "known messages are recognised by TOP n 0 alone"
        reloaded = await world.fetch(account, FetchReason.RELOAD)
    assert reloaded.counts is not None
    assert reloaded.counts.new == 0, "G5: a reload stores nothing twice"
    stored = await world.stored(account)
    assert sorted(m.raw for m in stored) == sorted([mail(1), twin, twin, mail(3)])
    assert len({m.uidl for m in stored}) == 4
    assert b"UIDL" in server.received, "UIDL was asked for, and refused"


async def test_s11_without_uidl_or_top_delete_after_load_deletes_what_was_stored(
    world: FetchWorld, scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    maildrop = Maildrop([mail(1), mail(2)], (b"USER",))
    with HostileServer(maildrop) as server:
        account = await scripted_pop3_account(server, delete_after_fetch=True)
        result = await world.fetch(account)
        assert result.counts is not None
        assert (result.counts.new, result.counts.deleted_on_server) == (2, 2)
        assert (maildrop.left, len(maildrop.deleted)) == ([], 2)
        again = await world.fetch(account)
    assert again.counts is not None
    assert (again.counts.new, again.counts.deleted_on_server) == (0, 0)
    assert len(await world.stored(account)) == 2


async def test_a_server_that_stops_giving_uidls_fails_instead_of_storing_twice(
    world: FetchWorld, scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    maildrop = Maildrop([mail(1)], (b"USER", b"UIDL"))
    with HostileServer(maildrop) as server:
        account = await scripted_pop3_account(server)
        await world.fetch(account)
        maildrop.capabilities = (b"USER",)
        result = await world.fetch(account)
    assert result.outcome is Outcome.RETRY
    assert result.reason is not None
    assert "refused UIDL, though it gave UIDLs before" in result.reason
    assert len(await world.stored(account)) == 1
