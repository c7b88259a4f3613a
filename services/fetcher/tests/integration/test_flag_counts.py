"""#11 findings 2 and 3 on both databases: only real flag changes are written and counted
(`flags_changed`), without CONDSTORE (every flag read at every poll) as with it (messages just
downloaded are no change); and `counts.on_server` names every synced folder with its count,
also after a poll with nothing to do (S7, A11)."""

from datetime import timedelta

from fetcher_testing import FetchWorld, message, no_heartbeat
from mailbridge.common.db.mailstore import FetchState
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease, NewMessage
from mailbridge.fetcher.sync import sync_imap
from mailbridge.fetcher.sync_plan import Cursor, FolderStatus, Pending
from mailbridge.testkit.users import MailUser

TTL = timedelta(seconds=30)


async def config_and_lease(world: FetchWorld, mail_user: MailUser) -> tuple[AccountConfig, Lease]:
    account_id = await world.account(mail_user)
    config = await world.deps.store.load_account(account_id)
    lease = await world.deps.store.acquire_lease(account_id, "flags-test", TTL)
    assert config is not None
    assert lease is not None
    return config, lease


async def stored_flags(world: FetchWorld, config: AccountConfig) -> dict[int | None, list[str]]:
    return {m.uid: sorted(m.flags) for m in await world.stored(config.account_id)}


async def test_the_store_writes_and_counts_only_flags_that_differ(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#11 finding 2: the same flags in another order, or with \\Recent, are no change."""
    config, lease = await config_and_lease(world, mail_user)
    store = world.deps.store
    messages = [NewMessage("INBOX", message(u, mail_user.address), ("\\Seen",), 7, u) for u in (1, 2, 3)]
    await store.store_batch(lease, TTL, config, messages)
    cursor = Cursor(7, 3, None)
    same = [(1, ("\\Seen",)), (2, ("\\Recent", "\\Seen")), (3, ("\\Seen",)), (9, ("\\Seen",))]
    assert await store.update_flags(lease, TTL, config, "INBOX", same, cursor) == 0
    changed = [(1, ("\\Seen",)), (2, ("\\Flagged", "\\Seen")), (3, ())]
    assert await store.update_flags(lease, TTL, config, "INBOX", changed, cursor) == 2
    assert await stored_flags(world, config) == {1: ["\\Seen"], 2: ["\\Flagged", "\\Seen"], 3: []}
    assert [m.seen for m in await world.stored(config.account_id)] == [True, True, False]


class WithoutCondstore:
    """An IMAP folder of three messages on a server without CONDSTORE (no HIGHESTMODSEQ)."""

    def __init__(self) -> None:
        self.flags: dict[int, tuple[str, ...]] = {1: ("\\Seen",), 2: (), 3: ("\\Flagged",)}

    async def select(self, folder: str) -> FolderStatus:
        return FolderStatus(7, 4, None, 3)

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        return [FetchedItem(u, (), 100, None, None) for u in self.flags if u > uid]

    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]:
        return [FetchedItem(p.uid, self.flags[p.uid], None, message(p.uid, "a@x"), None) for p in batch]

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        assert modseq == 0, "without CONDSTORE every flag is read"
        return [FetchedItem(u, f, None, None, None) for u, f in self.flags.items() if u <= up_to_uid]

    async def uids_up_to(self, last_uid: int) -> list[int]:
        return [u for u in self.flags if u <= last_uid]


async def test_without_condstore_a_poll_counts_only_real_changes(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#11 finding 2 (Courier, Exchange): the plan reads every flag; only a changed one counts."""
    config, lease = await config_and_lease(world, mail_user)
    server, store, limits = WithoutCondstore(), world.deps.store, world.deps.limits
    first = await sync_imap(config, server, store, lease, {}, limits, no_heartbeat)
    assert (first.new, first.flags_changed) == (3, 0)
    known = {"INBOX": Cursor(7, 3, None)}
    unchanged = await sync_imap(config, server, store, lease, known, limits, no_heartbeat)
    assert (unchanged.new, unchanged.flags_changed, unchanged.folders) == (0, 0, {"INBOX": 3})
    server.flags[2] = ("\\Seen",)
    changed = await sync_imap(config, server, store, lease, known, limits, no_heartbeat)
    assert changed.flags_changed == 1
    assert await stored_flags(world, config) == {1: ["\\Seen"], 2: ["\\Seen"], 3: ["\\Flagged"]}
    again = await sync_imap(config, server, store, lease, known, limits, no_heartbeat)
    assert again.flags_changed == 0


class WithCondstore(WithoutCondstore):
    """The same folder with CONDSTORE: a new message raises HIGHESTMODSEQ, and the messages
    changed since are the ones just downloaded (as Cyrus answers)."""

    modseq = 10

    async def select(self, folder: str) -> FolderStatus:
        return FolderStatus(7, max(self.flags) + 1, self.modseq, len(self.flags))

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        return [FetchedItem(u, f, None, None, None) for u, f in self.flags.items() if 3 < u <= up_to_uid]


async def test_with_condstore_messages_just_downloaded_are_no_flag_change(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#11 finding 2 (Cyrus): the poll that downloads message 4 reads its flags as changed since
    the last HIGHESTMODSEQ; they are the flags just stored, so nothing counts."""
    config, lease = await config_and_lease(world, mail_user)
    server, store, limits = WithCondstore(), world.deps.store, world.deps.limits
    await sync_imap(config, server, store, lease, {}, limits, no_heartbeat)
    server.flags[4], server.modseq = (r"\Seen",), 11
    polled = await sync_imap(config, server, store, lease, {"INBOX": Cursor(7, 3, 10)}, limits, no_heartbeat)
    assert (polled.new, polled.flags_changed) == (1, 0)


async def test_on_server_names_every_folder_also_when_nothing_changed(
    world: FetchWorld, mail_user: MailUser
) -> None:
    """#11 finding 3 on Dovecot (CONDSTORE: the second poll is a SELECT per folder and nothing
    else); an empty folder counts 0."""
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(2)])
    world.stack.seed(mail_user.address, [message(5, mail_user.address)], "Work")
    account = await world.account(mail_user, sync_folders=["Work", "Archive"])
    first = await world.fetch(account)
    second = await world.fetch(account)
    assert first.counts is not None
    assert second.counts is not None
    expected = {"INBOX": 2, "Work": 1, "Archive": 0}
    assert (first.counts.folders, second.counts.folders) == (expected, expected)
    assert (second.counts.new, second.counts.flags_changed) == (0, 0)
    async with world.sessions() as session:
        state = await session.get(FetchState, account)
    assert state is not None
    assert state.counts["on_server"] == expected
