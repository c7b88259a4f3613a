"""Changes on every server of the matrix (#11): flags changed on the server both ways, \\Seen and
moves to trash through Mailbridge reaching the server, and deletions on the server."""

from interop.imap_matrix import (
    FLAGGED,
    SEEN,
    counted,
    on_server_flags,
    seed,
    synced,
)
from interop.interop_testing import InteropWorld, plain, server_messages
from mailbridge.common.events import MailboxAction, MailboxChangeRequested, MailRemovedOnServer
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import Outcome


async def test_flags_changed_on_the_server_both_ways(interop_world: InteropWorld) -> None:
    """#11 finding 2, S7 (imap: synchronised): +\\Seen, -\\Seen and +\\Flagged on the server
    (another device) are exactly the three changes counted, and the store holds the server's
    flags afterwards."""
    world = interop_world
    login, account = await synced(world)
    archiv = world.server.folder("Archiv")
    with world.seeder(login) as seeder:
        unseen, seen, _ = seeder.uids("INBOX")
        seeder.store("INBOX", unseen, "+FLAGS", [SEEN])
        seeder.store("INBOX", seen, "-FLAGS", [SEEN])
        archived = seeder.uids(archiv)[1]
        seeder.store(archiv, archived, "+FLAGS", [FLAGGED])
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert counted(result) == (0, 3)
    flags = on_server_flags(world, login, ["INBOX", archiv])
    stored = [m for m in await world.stored(account) if m.folder in ("INBOX", archiv)]
    assert {(m.folder, m.uid): set(m.flags) for m in stored} == flags
    assert {(m.folder, m.uid): m.seen for m in stored} == {key: SEEN in f for key, f in flags.items()}
    assert SEEN in flags["INBOX", unseen]
    assert SEEN not in flags["INBOX", seen]
    assert FLAGGED in flags[archiv, archived]


async def test_seen_changed_through_mailbridge_reaches_the_server(interop_world: InteropWorld) -> None:
    """#11, S7: read and unread set through the API (the fetcher's mailbox-change path,
    `changes.apply_change`) reach the server, in INBOX and in a personal folder."""
    world = interop_world
    login, account = await synced(world)
    archiv = world.server.folder("Archiv")
    stored = {(m.folder, m.uid): m for m in await world.stored(account)}
    with world.seeder(login) as seeder:
        unseen_uid, seen_uid = seeder.uids("INBOX")[:2]
        archived_uid = seeder.uids(archiv)[1]
    changes = [
        (stored["INBOX", unseen_uid].id, MailboxAction.MARK_SEEN),
        (stored["INBOX", seen_uid].id, MailboxAction.MARK_UNSEEN),
        (stored[archiv, archived_uid].id, MailboxAction.MARK_SEEN),
    ]
    for message_id, action in changes:
        done = await apply_change(world.deps, MailboxChangeRequested(message_id=message_id, action=action))
        assert (done.outcome, done.reason) == (Outcome.DONE, None)
    flags = on_server_flags(world, login, ["INBOX", archiv])
    assert SEEN in flags["INBOX", unseen_uid]
    assert SEEN not in flags["INBOX", seen_uid]
    assert SEEN in flags[archiv, archived_uid]


async def test_move_to_trash_through_mailbridge_reaches_the_server(interop_world: InteropWorld) -> None:
    """#11, S10/A11 (the account's trash folder under the server's namespace): a move to trash
    through the API lands in the server's trash and the stored row follows it (its new UID from
    UIDPLUS). Dovecot and Cyrus MOVE (RFC 6851); Courier 5.0 has no MOVE, so the fetcher copies,
    marks \\Deleted and UID EXPUNGEs that one message (found by this matrix: it retried for ever)."""
    world = interop_world
    login = world.server.add_user()
    trash = world.server.folder("Trash")
    seed(world, login, {"INBOX": [(plain(1, login.address), ()), (plain(2, login.address), ())], trash: []})
    account = await world.account(login, trash_folder=trash)
    await world.fetch(account)
    first, second = await world.stored(account)
    command = MailboxChangeRequested(message_id=second.id, action=MailboxAction.MOVE_TO_TRASH)
    done = await apply_change(world.deps, command)
    assert (done.outcome, done.reason) == (Outcome.DONE, None)
    in_trash = server_messages(world.server, login, trash)
    assert list(in_trash.values()) == [second.raw]
    assert list(server_messages(world.server, login, "INBOX").values()) == [first.raw]
    moved = {m.id: m for m in await world.stored(account)}[second.id]
    assert (moved.folder, moved.uid) == (trash, next(iter(in_trash)))


async def test_deletions_on_the_server_are_seen_by_the_next_poll(interop_world: InteropWorld) -> None:
    """#11, S7: messages expunged on the server leave the folder's count, the next poll
    downloads nothing again and counts no flag change for the messages that remain; exactly the
    expunged ones are marked removed in the store (bytes kept, MailRemovedOnServer queued)."""
    world = interop_world
    login, account = await synced(world)
    archiv = world.server.folder("Archiv")
    before = {(m.folder, m.uid): m.raw for m in await world.stored(account)}
    with world.seeder(login) as seeder:
        gone = [("INBOX", uid) for uid in seeder.uids("INBOX")[:2]] + [(archiv, seeder.uids(archiv)[0])]
        seeder.expunge("INBOX", seeder.uids("INBOX")[:2])
        seeder.expunge(archiv, seeder.uids(archiv)[:1])
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert counted(result) == (0, 0)
    assert result.counts is not None
    assert result.counts.folders == {"INBOX": 1, archiv: 1, world.server.folder("Gesendet"): 1}
    assert result.counts.deleted_on_server == 3
    stored = await world.stored(account)
    assert {(m.folder, m.uid): m.raw for m in stored} == before, "nothing downloaded twice, nothing lost"
    assert sorted((m.folder, m.uid) for m in stored if m.removed_on_server_at is not None) == sorted(gone)
    assert MailRemovedOnServer.subject in await world.outbox_subjects()
    again = await world.fetch(account)
    assert again.counts is not None
    assert again.counts.deleted_on_server == 0
