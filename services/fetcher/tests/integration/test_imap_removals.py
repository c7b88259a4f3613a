"""S7 on the real Dovecot, both databases: messages expunged on the server by another client are
marked `removed_on_server_at` in the store (bytes kept) with MailRemovedOnServer in the outbox;
IMAP download marks nothing; a message skipped as too large is no removal."""

import uuid
from dataclasses import replace

from fetcher_testing import FetchWorld, message, no_heartbeat
from mailbridge.common.db.mailstore import FetchState, OutboxEvent
from mailbridge.common.events import FetchReason, MailRemovedOnServer
from mailbridge.fetcher.fetch_account import fetch_account
from mailbridge.fetcher.fetch_record import Counts
from mailbridge.testkit.users import MailUser
from sqlalchemy import select


def expunge(world: FetchWorld, user: MailUser, uids: str) -> None:
    """Another client deletes these messages (UID set) for good."""
    with world.stack.imap(user) as imap:
        imap.select("INBOX")
        imap.uid("STORE", uids, "+FLAGS", "(\\Deleted)")
        imap.expunge()


async def poll(world: FetchWorld, account: uuid.UUID) -> Counts:
    result = await world.fetch(account)
    assert result.counts is not None, result.reason
    return result.counts


async def removal_events(world: FetchWorld, account: uuid.UUID) -> list[list[str]]:
    async with world.sessions() as session:
        payloads = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.subject == MailRemovedOnServer.subject)
        )
        events = [MailRemovedOnServer.model_validate_json(p) for p in payloads]
    return [sorted(str(i) for i in e.message_ids) for e in events if e.account_id == account]


async def test_messages_expunged_on_the_server_are_marked_once_and_kept(
    world: FetchWorld, mail_user: MailUser
) -> None:
    seeded = [message(i, mail_user.address) for i in range(1, 7)]
    world.stack.seed(mail_user.address, seeded)
    account = await world.account(mail_user)
    assert (await poll(world, account)).new == 6
    expunge(world, mail_user, "2,5")
    counts = await poll(world, account)
    assert (counts.new, counts.deleted_on_server, counts.folders) == (0, 2, {"INBOX": 4})
    stored = await world.stored(account)
    assert [m.uid for m in stored if m.removed_on_server_at is not None] == [2, 5]
    assert [m.raw for m in stored] == seeded, "every stored copy stays, byte for byte"
    gone = sorted(str(m.id) for m in stored if m.removed_on_server_at is not None)
    assert await removal_events(world, account) == [gone]
    async with world.sessions() as session:
        state = await session.get(FetchState, account)
        assert state is not None
        assert state.counts["deleted_on_server"] == 2
    again = await poll(world, account)
    assert again.deleted_on_server == 0
    assert [m.removed_on_server_at for m in await world.stored(account)] == [
        m.removed_on_server_at for m in stored
    ], "a mark is set once"
    assert len(await removal_events(world, account)) == 1


async def test_new_mail_and_a_removal_in_the_same_poll(world: FetchWorld, mail_user: MailUser) -> None:
    """The poll that downloads counts its stored messages again after storing them."""
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(1, 4)])
    account = await world.account(mail_user)
    await poll(world, account)
    expunge(world, mail_user, "1")
    world.stack.seed(mail_user.address, [message(4, mail_user.address)])
    counts = await poll(world, account)
    assert (counts.new, counts.deleted_on_server) == (1, 1)
    stored = await world.stored(account)
    assert [(m.uid, m.removed_on_server_at is not None) for m in stored] == [
        (1, True), (2, False), (3, False), (4, False)
    ]  # fmt: skip


async def test_imap_download_leaves_the_rows_as_they_are(world: FetchWorld, mail_user: MailUser) -> None:
    """S7: `imap_download` is one-way; what is deleted on the server stays as it was stored."""
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(1, 4)])
    account = await world.account(mail_user, protocol="imap_download")
    await poll(world, account)
    expunge(world, mail_user, "1:2")
    assert (await poll(world, account)).deleted_on_server == 0
    assert [m.removed_on_server_at for m in await world.stored(account)] == [None, None, None]
    assert await removal_events(world, account) == []


async def test_a_message_skipped_as_too_large_is_no_removal(world: FetchWorld, mail_user: MailUser) -> None:
    """The server holds one message more than the store: the first search finds nothing gone and
    keeps that one as not stored, so the removal of a stored message (EXISTS then equal to the
    stored count) is still seen."""
    large = message(2, mail_user.address, body="x" * 20_000)
    seeded = [message(1, mail_user.address), large, message(3, mail_user.address)]
    world.stack.seed(mail_user.address, seeded)
    account = await world.account(mail_user)
    deps = replace(world.deps, limits=replace(world.deps.limits, max_message_bytes=10_000))

    async def fetch() -> Counts:
        result = await fetch_account(deps, account, FetchReason.MANUAL, no_heartbeat)
        assert result.counts is not None, result.reason
        return result.counts

    first = await fetch()
    assert (first.new, [s["uid"] for s in first.skipped]) == (2, [2])
    assert (await fetch()).deleted_on_server == 0
    assert [m.removed_on_server_at for m in await world.stored(account)] == [None, None]
    expunge(world, mail_user, "3")
    assert (await fetch()).deleted_on_server == 1
    stored = await world.stored(account)
    assert [(m.uid, m.removed_on_server_at is not None) for m in stored] == [(1, False), (3, True)]
