"""S7: which stored IMAP messages the server no longer has, and when a poll asks the server."""

import dataclasses
import uuid
from datetime import timedelta

import pytest
from fetcher_testing import ACCOUNT, LEASE, no_heartbeat
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease
from mailbridge.fetcher.removals import removed, unstored, worth_searching
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
    assert worth_searching(exists=10, stored=10, unstored=None), "this poll skipped some"


def test_the_server_uids_that_are_not_stored_are_counted() -> None:
    assert unstored([1, 2, 4], [1, 2, 3, 4, 5, 9], up_to_uid=5) == 2
    assert unstored([1, 2], [1, 2], up_to_uid=2) == 0


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
        self.on_server, self.marked, self.unstored = list(range(1, count + 1)), list[int](), 0

    async def update_flags(self, *_: object) -> int:
        return 0

    async def reset_folder(self, *_: object) -> None:
        return None

    async def count_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int:
        return len(self.on_server)

    async def uids_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]:
        return list(self.on_server)

    async def mark_removed(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, uidvalidity: int,
        gone: list[int], unstored: int,
    ) -> int:  # fmt: skip
        self.marked += gone
        self.unstored = unstored
        self.on_server = [uid for uid in self.on_server if uid not in gone]
        return len(gone)


async def poll(account: AccountConfig, folder: Folder, store: Stored, cursor: Cursor) -> int:
    counts = await sync_imap(account, folder, store, LEASE, {"INBOX": cursor}, Limits(), no_heartbeat)  # type: ignore[arg-type]
    return counts.deleted_on_server


async def test_a_poll_with_nothing_to_do_marks_what_was_expunged_once() -> None:
    folder, store = Folder(10, expunged={3, 7}), Stored(10)
    cursor = Cursor(7, 10, None, on_server=10)
    assert await poll(ACCOUNT, folder, store, cursor) == 2
    assert store.marked == [3, 7]
    assert await poll(ACCOUNT, folder, store, dataclasses.replace(cursor, on_server=8)) == 0
    assert (store.marked, folder.searches) == ([3, 7], 1), "equal counts: the server is not asked again"


async def test_equal_counts_cost_no_search() -> None:
    folder = Folder(10, expunged=set())
    assert await poll(ACCOUNT, folder, Stored(10), Cursor(7, 10, None, on_server=10)) == 0
    assert folder.searches == 0


async def test_a_count_not_read_with_the_cursor_is_read_now() -> None:
    folder, store = Folder(5, expunged={5}), Stored(5)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 5, None)) == 1
    assert store.marked == [5]


async def test_imap_download_marks_nothing() -> None:
    """S7: `imap_download` is one-way; the server is not even asked."""
    folder, store = Folder(10, expunged={1, 2}), Stored(10)
    download = dataclasses.replace(ACCOUNT, protocol=IncomingProtocol.IMAP_DOWNLOAD)
    assert await poll(download, folder, store, Cursor(7, 10, None, on_server=10)) == 0
    assert (store.marked, folder.searches) == ([], 0)


@pytest.mark.parametrize("count", [0, 1])
async def test_a_uidvalidity_change_is_left_to_the_reset(count: int) -> None:
    folder, store = Folder(count, expunged=set(), uidvalidity=8), Stored(3)
    assert await poll(ACCOUNT, folder, store, Cursor(7, 3, None, on_server=3)) == 0
    assert (store.marked, folder.searches) == ([], 0)
