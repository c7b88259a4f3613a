"""IMAP and IMAP download against the real Dovecot: byte-exact store, no duplicates, flags both
ways, UIDVALIDITY resets, further folders, moves, and clear reasons for what cannot work."""

from fetcher_testing import FetchWorld, message
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.events import (
    FetchReason,
    MailboxAction,
    MailboxChangeRequested,
    MailboxReset,
    MailFetched,
)
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.testkit.users import MailUser
from sqlalchemy import select

GARBAGE = b"this is not a mail message at all\r\n"


async def test_s7_initial_sync_stores_every_message_byte_exact(
    world: FetchWorld, mail_user: MailUser
) -> None:
    seeded = [message(i, mail_user.address) for i in range(20)] + [GARBAGE]
    world.stack.seed(mail_user.address, seeded)
    account = await world.account(mail_user)
    result = await world.fetch(account)
    assert (result.outcome, result.counts and result.counts.new) == (Outcome.DONE, 21)
    stored = await world.stored(account)
    assert sorted(m.raw for m in stored) == sorted(seeded)
    assert [m.uid for m in stored] == list(range(1, 22))
    flagged = [m for m in stored if m.parse_problem]
    assert [m.raw for m in flagged] == [GARBAGE], "a message that does not parse is kept, flagged"
    assert (await world.outbox_subjects()).count(MailFetched.subject) == 21
    again = await world.fetch(account)
    assert again.counts is not None
    assert again.counts.new == 0
    assert len(await world.stored(account)) == 21


async def test_starttls_port_works_the_same(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(1, mail_user.address)])
    account = await world.account(mail_user, tls_port="imap")
    result = await world.fetch(account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert len(await world.stored(account)) == 1


async def test_new_mail_arrives_incrementally(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user)
    await world.fetch(account)
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3, 5)])
    result = await world.fetch(account)
    assert result.counts is not None
    assert result.counts.new == 2
    assert [m.uid for m in await world.stored(account)] == [1, 2, 3, 4, 5]


async def test_seen_on_another_device_reaches_the_store(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user)
    await world.fetch(account)
    with world.stack.imap(mail_user) as imap:
        imap.select("INBOX")
        imap.uid("STORE", "2", "+FLAGS", "(\\Seen)")
    result = await world.fetch(account)
    assert result.counts is not None
    assert result.counts.flags_changed == 1
    assert [m.seen for m in await world.stored(account)] == [False, True, False]


async def test_imap_download_is_one_way(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(2)])
    account = await world.account(mail_user, protocol="imap_download")
    await world.fetch(account)
    with world.stack.imap(mail_user) as imap:
        imap.select("INBOX")
        imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    result = await world.fetch(account)
    assert result.counts is not None
    assert result.counts.flags_changed == 0
    assert [m.seen for m in await world.stored(account)] == [False, False]


async def test_uidvalidity_reset_rebases_without_duplicates(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(5)])
    account = await world.account(mail_user)
    await world.fetch(account)
    before = {m.id: m.raw for m in await world.stored(account)}
    old = world.stack.uidvalidity(mail_user.address)
    new = world.stack.reset_uidvalidity(mail_user.address)
    assert new != old
    world.stack.seed(mail_user.address, [message(9, mail_user.address)])
    result = await world.fetch(account)
    after = await world.stored(account)
    assert result.counts is not None
    assert result.counts.new == 1
    assert len(after) == 6
    assert {m.id: m.raw for m in after if m.id in before} == before, "the same rows, re-based"
    assert {m.uidvalidity for m in after} == {new}
    assert MailboxReset.subject in await world.outbox_subjects()


async def test_further_folders_are_synchronised(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(1, mail_user.address)])
    world.stack.seed(
        mail_user.address, [message(2, mail_user.address), message(3, mail_user.address)], "Work"
    )
    account = await world.account(mail_user, sync_folders=["Work"])
    await world.fetch(account)
    assert sorted(m.folder for m in await world.stored(account)) == ["INBOX", "Work", "Work"]


async def test_missing_folder_is_a_clear_permanent_failure(world: FetchWorld, mail_user: MailUser) -> None:
    account = await world.account(mail_user, inbox_folder="Does/Not/Exist")
    result = await world.fetch(account)
    assert result.outcome is Outcome.DONE
    assert result.reason is not None
    assert "Does/Not/Exist" in result.reason
    skipped = await world.fetch(account, FetchReason.SCHEDULED)
    assert skipped.outcome is Outcome.SKIPPED, "no retry storm until the configuration changes"


async def test_wrong_password_is_recorded_and_not_retried(world: FetchWorld, mail_user: MailUser) -> None:
    account = await world.account(mail_user, password="wrong")
    result = await world.fetch(account)
    assert result.reason is not None
    assert "rejected" in result.reason
    async with world.sessions() as session:
        state = await session.scalar(select(FetchState).where(FetchState.account_id == account))
    assert state is not None
    assert (state.status, state.permanent) == ("failed", True)
    assert (await world.fetch(account, FetchReason.SCHEDULED)).outcome is Outcome.SKIPPED
    assert (await world.fetch(account, FetchReason.MANUAL)).outcome is Outcome.DONE, "a person may retry"


async def test_unreachable_server_is_transient(world: FetchWorld, mail_user: MailUser) -> None:
    account = await world.account(mail_user)
    async with world.sessions() as session:
        from mailbridge.common.db.tables import MailAccount, MailServer

        row = await session.get(MailAccount, account)
        assert row is not None
        server = await session.get(MailServer, row.server_id)
        assert server is not None
        server.incoming_host = "127.0.0.1:1"
        await session.commit()
    result = await world.fetch(account)
    assert result.outcome is Outcome.RETRY
    assert result.reason is not None
    assert "cannot connect" in result.reason


async def test_seen_and_move_through_the_api_reach_the_server(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(2)])
    account = await world.account(mail_user)
    await world.fetch(account)
    first, second = await world.stored(account)
    seen = MailboxChangeRequested(message_id=first.id, action=MailboxAction.MARK_SEEN)
    assert (await apply_change(world.deps, seen)).outcome is Outcome.DONE
    moved = MailboxChangeRequested(message_id=second.id, action=MailboxAction.MOVE_TO_TRASH)
    assert (await apply_change(world.deps, moved)).outcome is Outcome.DONE
    with world.stack.imap(mail_user) as imap:
        imap.select("INBOX")
        _, flags = imap.uid("FETCH", "1:*", "(FLAGS)")
        _, trash = imap.select("Trash")
    assert b"\\Seen" in flags[0]
    assert len(flags) == 1
    assert trash == [b"1"]
    rows = {m.id: m for m in await world.stored(account)}
    assert rows[second.id].folder == "Trash"
    assert rows[second.id].uid == 1


async def test_g5_reload_downloads_again_without_duplicates(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(4)])
    account = await world.account(mail_user)
    await world.fetch(account)
    before = {m.id for m in await world.stored(account)}
    reloaded = await world.fetch(account, FetchReason.RELOAD)
    assert reloaded.counts is not None
    assert (reloaded.outcome, reloaded.counts.new) == (Outcome.DONE, 0)
    assert {m.id for m in await world.stored(account)} == before
