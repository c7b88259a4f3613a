"""S7: which stored IMAP messages the server no longer has, and when a poll asks the server."""

import dataclasses
import uuid
from datetime import timedelta

from fetcher_testing import ACCOUNT, LEASE, no_heartbeat
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.removals import (
    FolderPoll,
    Reconciled,
    known_unstored,
    removed,
    unchanged,
    unstored,
    worth_searching,
)
from mailbridge.fetcher.sync import Limits, sync_imap
from mailbridge.fetcher.sync_plan import Cursor, FolderStatus, Pending


def test_stored_uids_the_server_lacks_are_removed() -> None:
    assert removed([1, 2, 3, 4, 5], [1, 2, 4], up_to_uid=5) == [3, 5]
    assert removed([3, 1, 2], [], up_to_uid=3) == [1, 2, 3]


def test_a_uid_above_the_answer_is_never_judged() -> None:
    """Mail that arrived after SELECT has UIDs above the searched range: not a removal, and a
    stored UID above it (none should be) is left alone too."""
    assert removed([1, 2, 9], [1, 2, 10, 11], up_to_uid=5) == []


def test_messages_on_the_server_that_are_not_stored_remove_nothing() -> None:
    """Skipped as too large (or a stand-in): on the server, never stored."""
    assert removed([1, 2, 4], [1, 2, 3, 4, 5], up_to_uid=5) == []


def test_the_server_is_asked_only_when_the_counts_differ() -> None:
    assert not worth_searching(exists=10, stored=10, unstored=0)
    assert worth_searching(exists=9, stored=10, unstored=0)
    assert not worth_searching(exists=12, stored=10, unstored=2), "two skipped as too large"
    assert worth_searching(exists=12, stored=11, unstored=2), "one skipped, one stored gone"
    assert worth_searching(exists=10, stored=10, unstored=None), "not known: search"


def test_the_server_uids_that_are_not_stored_are_counted() -> None:
    assert unstored([1, 2, 4], [1, 2, 3, 4, 5, 9], up_to_uid=5) == 2
    assert unstored([1, 2], [1, 2], up_to_uid=2) == 0


LAST = Reconciled(last_uid=10, exists=9, unstored=1)


def folder_poll(
    exists: int = 9, from_uid: int = 10, listed_new: bool = False, skipped: int = 0
) -> FolderPoll:
    return FolderPoll(exists, from_uid, from_uid + skipped, listed_new, skipped, LAST)


def test_no_new_uid_and_the_same_exists_is_unchanged() -> None:
    """With no message added, EXISTS only falls when one goes."""
    assert unchanged(folder_poll())
    assert not unchanged(folder_poll(exists=8))
    assert not unchanged(folder_poll(listed_new=True))
    assert not unchanged(dataclasses.replace(folder_poll(), reconciled=None)), "never looked"
    assert not unchanged(folder_poll(from_uid=12)), "the cursor moved past the last look"


def test_the_unstored_are_known_from_the_last_look_and_this_poll() -> None:
    assert known_unstored(folder_poll(listed_new=True, skipped=2)) == 3
    assert known_unstored(folder_poll(from_uid=12)) is None, "a look missed (the poll failed after storing)"
    assert known_unstored(dataclasses.replace(folder_poll(from_uid=0, skipped=1), reconciled=None)) == 1


class Folder:
    """A folder on the server: UIDs 1..`count` minus `expunged`, no new mail, no CONDSTORE."""

    def __init__(self, count: int, expunged: set[int], uidvalidity: int = 7) -> None:
        self.uids = [uid for uid in range(1, count + 1) if uid not in expunged]
        self.uidnext, self.uidvalidity, self.searches = count + 1, uidvalidity, 0

    async def select(self, folder: str) -> FolderStatus:
        return FolderStatus(self.uidvalidity, self.uidnext, None, len(self.uids))

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        return []

    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]:
        raise AssertionError("nothing new to fetch")

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        return []

    async def uids_up_to(self, last_uid: int) -> list[int]:
        self.searches += 1
        return [uid for uid in self.uids if uid <= last_uid]


class Stored:
    """The store's side: UIDs 1..`count` stored, none marked yet."""

    def __init__(self, count: int) -> None:
        self.on_server, self.marked, self.counted = list(range(1, count + 1)), list[int](), 0
        self.reconciled: Reconciled | None = None

    async def update_flags(self, *_: object) -> int:
        return 0

    async def reset_folder(self, *_: object) -> None:
        return None

    async def count_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int:
        self.counted += 1
        return len(self.on_server)

    async def uids_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]:
        return list(self.on_server)

    async def mark_removed(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, uidvalidity: int,
        gone: list[int], reconciled: Reconciled,
    ) -> int:  # fmt: skip
        self.marked += gone
        self.reconciled = reconciled
        self.on_server = [uid for uid in self.on_server if uid not in gone]
        return len(gone)


async def poll(account: AccountConfig, folder: Folder, store: Stored, cursor: Cursor) -> int:
    counts = await sync_imap(account, folder, store, LEASE, {"INBOX": cursor}, Limits(), no_heartbeat)  # type: ignore[arg-type]
    return counts.deleted_on_server


async def test_an_unchanged_folder_costs_no_count_and_no_search() -> None:
    folder, store = Folder(10, expunged=set()), Stored(10)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 10, None, Reconciled(10, 10, 0))) == 0
    assert (store.counted, folder.searches) == (0, 0)


async def test_a_poll_with_nothing_to_do_marks_what_was_expunged_once() -> None:
    folder, store = Folder(10, expunged={3, 7}), Stored(10)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 10, None, Reconciled(10, 10, 0))) == 2
    assert (store.marked, store.reconciled) == ([3, 7], Reconciled(10, 8, 0))
    assert await poll(ACCOUNT, folder, store, Cursor(7, 10, None, store.reconciled)) == 0
    assert (store.marked, store.counted, folder.searches) == ([3, 7], 1, 1), "unchanged since"


async def test_without_a_last_look_the_server_is_asked_once() -> None:
    """A folder synced before the removals were looked for (no `Reconciled`)."""
    folder, store = Folder(5, expunged={5}), Stored(5)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 5, None)) == 1
    assert (store.marked, store.reconciled) == ([5], Reconciled(5, 4, 0))


async def test_imap_download_marks_nothing() -> None:
    """S7: `imap_download` is one-way; the server is not even asked."""
    folder, store = Folder(10, expunged={1, 2}), Stored(10)
    download = dataclasses.replace(ACCOUNT, protocol=IncomingProtocol.IMAP_DOWNLOAD)
    assert await poll(download, folder, store, Cursor(7, 10, None)) == 0
    assert (store.marked, store.counted, folder.searches) == ([], 0, 0)


async def test_a_uidvalidity_change_marks_nothing_of_the_old_one() -> None:
    """The reset re-bases what is still there (by SHA-256); the old UIDs are not looked up."""
    folder, store = Folder(0, expunged=set(), uidvalidity=8), Stored(3)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 3, None, Reconciled(3, 3, 0))) == 0
    assert (store.marked, folder.searches) == ([], 0)
