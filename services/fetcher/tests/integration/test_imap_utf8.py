"""IMAP and UTF-8 (#11, RFC 6855): `ENABLE UTF8=ACCEPT` where offered, after which mailbox names
go out in UTF-8 instead of modified UTF-7; a folder such as "Entwürfe" keeps its identity in the
store (folder name, cursor) whether or not the server enabled it, so a server that starts
offering UTF8=ACCEPT causes no second download (S7, A11). Scripted server and the real Dovecot;
each test on SQLite and PostgreSQL."""

import uuid

from fetcher_testing import FetchWorld, message
from hostile_accounts import hostile_account
from mailbridge.common.db.tables import MailAccount
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.hostile_imap import Utf8Folder
from mailbridge.testkit.users import MailUser

FOLDER = "Entwürfe"


async def with_inbox(world: FetchWorld, account: uuid.UUID, folder: str) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        row.inbox_folder = folder
        await session.commit()


async def test_s7_the_folder_keeps_its_identity_when_the_server_starts_offering_utf8_accept(
    world: FetchWorld,
) -> None:
    messages = [message(i, "a@example.org") for i in range(2)]
    script = Utf8Folder(FOLDER, list(messages))
    with HostileServer(script) as server:
        account = await hostile_account(world, server)
        await with_inbox(world, account, FOLDER)
        before = await world.fetch(account)
        assert (before.outcome, before.reason) == (Outcome.DONE, None)
        assert b'SELECT "Entw&APw-rfe"' in b"\n".join(server.received)
        assert not any(line.split(b" ")[1:2] == [b"ENABLE"] for line in server.received)

        script.utf8_accept = True
        script.messages.append(message(2, "a@example.org"))
        server.conversations.clear()
        after = await world.fetch(account)
    assert (after.outcome, after.reason) == (Outcome.DONE, None)
    received = b"\n".join(server.received)
    assert b"ENABLE UTF8=ACCEPT" in received
    assert 'SELECT "Entwürfe"'.encode() in received
    assert after.counts is not None
    assert (after.counts.new, after.counts.folders) == (1, {FOLDER: 3}), "only the new message"
    stored = await world.stored(account)
    assert [(m.folder, m.uid) for m in stored] == [(FOLDER, 1), (FOLDER, 2), (FOLDER, 3)]


async def test_s7_a_folder_with_umlauts_on_dovecot_is_stored_under_its_unicode_name(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """Dovecot 2.3 offers no UTF8=ACCEPT: the name goes out in modified UTF-7, the store keeps
    the Unicode name the account configures."""
    with world.stack.imap(mail_user) as imap:
        imap.create('"Entw&APw-rfe"')
        imap.append('"Entw&APw-rfe"', "", None, message(1, mail_user.address))
        offered = imap.capabilities
    account = await world.account(mail_user, sync_folders=[FOLDER])
    first = await world.fetch(account)
    second = await world.fetch(account)
    assert "UTF8=ACCEPT" not in offered
    assert first.counts is not None
    assert second.counts is not None
    assert (first.counts.new, second.counts.new) == (1, 0)
    assert second.counts.folders == {"INBOX": 0, FOLDER: 1}
    assert [m.folder for m in await world.stored(account)] == [FOLDER]
