"""#11 finding 1, for what the fetcher stored before it recognised stand-ins (14fd5bf): a UIDL whose
stored message is Courier's stand-in, on a scripted maildrop that plays Courier. With delete after
loading (S11) the original would be deleted at the next poll, its UIDL being seen; instead it stays
on the server and is fetched again, and the real message replaces the stand-in in the store.
Each test runs on SQLite and PostgreSQL (`world`)."""

import uuid
from collections.abc import Awaitable, Callable

import pytest
from fetcher_testing import FetchWorld
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.fetcher import sync
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.hostile_pop3 import Maildrop, courier_stand_in

UTF8_HEADERS = "From: Jürgen Müller <j@example.org>\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n".encode()
ASCII = b"From: ann@example.org\r\nSubject: plain\r\n\r\nhello\r\n"
COURIER_CAPA = (b"TOP", b"USER", b"UIDL", b"UTF8 USER")
LOOKALIKE = b"From: bob@example.org\r\nSubject: Cannot display Unicode content\r\n\r\nmy own text\r\n"


async def delete_after_fetch(world: FetchWorld, account: uuid.UUID) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.delete_after_fetch = True
        await session.commit()


async def test_s11_a_stand_in_stored_before_is_not_deleted_and_gives_way_to_the_original(
    world: FetchWorld,
    scripted_pop3_account: Callable[..., Awaitable[uuid.UUID]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """#11 finding 1, S7/S11/G5: a poll by the fetcher before the fix (stand-ins not recognised)
    stored Courier's stand-in under uid-1, and the account now deletes after loading. While the
    server still wraps, the next poll deletes only the ASCII message and counts uid-1 as failed;
    once it serves the original, that poll stores it in the stand-in's place (one row for uid-1,
    no duplicate) and only then deletes it. A message of the user's that merely has the
    stand-in's subject is no stand-in: stored and deleted as any other."""
    maildrop = Maildrop([UTF8_HEADERS, ASCII, LOOKALIKE], COURIER_CAPA, honours_utf8=False)
    with HostileServer(maildrop) as server:
        account = await scripted_pop3_account(server)
        with monkeypatch.context() as before_the_fix:
            before_the_fix.setattr(sync, "recognise", lambda raw: None)
            await world.fetch(account)
        stand_in = courier_stand_in(UTF8_HEADERS)
        assert sorted(m.raw for m in await world.stored(account)) == sorted([stand_in, ASCII, LOOKALIKE])
        await delete_after_fetch(world, account)

        wrapped = await world.fetch(account)

        assert wrapped.counts is not None
        assert (wrapped.counts.new, wrapped.counts.deleted_on_server) == (0, 2)
        assert [f["uidl"] for f in wrapped.counts.failed] == ["uid-1"]
        assert maildrop.left == [UTF8_HEADERS], "the original stays on the server"

        maildrop.honours_utf8 = True
        fixed = await world.fetch(account)

    assert fixed.counts is not None
    assert (fixed.counts.new, fixed.counts.deleted_on_server, fixed.counts.failed) == (1, 1, [])
    stored = await world.stored(account)
    assert sorted((m.uidl, m.raw) for m in stored) == [
        ("uid-1", UTF8_HEADERS),
        ("uid-2", ASCII),
        ("uid-3", LOOKALIKE),
    ]
    assert maildrop.left == []
