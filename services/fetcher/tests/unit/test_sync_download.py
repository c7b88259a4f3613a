"""The download pipeline: fetching, summarising and committing overlap, commits never do."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from fetcher_testing import ACCOUNT, LEASE, no_heartbeat
from mailbridge.common.budget import Budget
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease, NewMessage
from mailbridge.fetcher.removals import Reconciled
from mailbridge.fetcher.summary import Summary
from mailbridge.fetcher.sync import Limits, sync_imap
from mailbridge.fetcher.sync_plan import Cursor, FolderStatus, Pending


def raw(uid: int) -> bytes:
    return f"Subject: {uid}\r\n\r\nbody {uid}\r\n".encode()


class FakeImap:
    def __init__(self, count: int) -> None:
        self.count = count

    async def select(self, folder: str) -> FolderStatus:
        return FolderStatus(7, self.count + 1, None, self.count)

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        return [FetchedItem(u, (), len(raw(u)), None, None) for u in range(uid + 1, self.count + 1)]

    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]:
        await asyncio.sleep(0.001)
        return [FetchedItem(p.uid, (), None, raw(p.uid), None) for p in batch]

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        return []

    async def uids_up_to(self, last_uid: int) -> list[int]:
        return list(range(1, min(self.count, last_uid) + 1))


class RecordingStore:
    def __init__(self, fail_at_batch: int | None = None) -> None:
        self.fail_at_batch = fail_at_batch
        self.committed: list[tuple[list[int], int]] = []  # (UIDs, cursor's last UID) per commit
        self.cursor: Cursor | None = None
        self._committing = False

    async def store_batch(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, messages: list[NewMessage],
        cursor: tuple[str, Cursor] | None = None, summaries: list[Summary] | None = None,
    ) -> int:  # fmt: skip
        assert not self._committing, "one transaction at a time"
        self._committing = True
        try:
            await asyncio.sleep(0.005)  # the database takes its time; the pipeline goes on meanwhile
            if len(self.committed) + 1 == self.fail_at_batch:
                raise RuntimeError("database down")
            assert summaries is not None
            assert [s.size for s in summaries] == [len(m.raw) for m in messages]
            assert cursor is not None
            self.committed.append(([m.uid or 0 for m in messages], cursor[1].last_uid))
            self.cursor = cursor[1]
            return len(messages)
        finally:
            self._committing = False

    async def update_flags(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str,
        changes: list[tuple[int, tuple[str, ...]]], cursor: Cursor,
    ) -> int:  # fmt: skip
        self.cursor = cursor
        return 0

    async def count_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int:
        return sum(len(uids) for uids, _ in self.committed)

    async def uids_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]:
        return [uid for uids, _ in self.committed for uid in uids]

    async def mark_removed(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, uidvalidity: int,
        gone: list[int], reconciled: Reconciled,
    ) -> int:  # fmt: skip
        assert not gone, f"nothing was removed on the server, yet {gone} were marked"
        return 0


async def test_batches_are_committed_in_order_one_at_a_time() -> None:
    store = RecordingStore()
    limits = Limits(batch_count=10)
    counts = await sync_imap(ACCOUNT, FakeImap(25), store, LEASE, {}, limits, no_heartbeat)  # type: ignore[arg-type]
    assert counts.new == 25
    assert store.committed == [
        (list(range(1, 11)), 10),
        (list(range(11, 21)), 20),
        (list(range(21, 26)), 25),
    ]
    assert store.cursor == Cursor(7, 25, None)


async def test_a_failed_commit_stops_the_cursor_behind_it() -> None:
    store = RecordingStore(fail_at_batch=2)
    with pytest.raises(RuntimeError, match="database down"):
        await sync_imap(ACCOUNT, FakeImap(45), store, LEASE, {}, Limits(batch_count=10), no_heartbeat)  # type: ignore[arg-type]
    assert store.committed == [(list(range(1, 11)), 10)], "nothing after the failed batch"
    assert store.cursor == Cursor(7, 10, None)


class BudgetWatchingImap(FakeImap):
    """Records how much of the budget is held while each body FETCH is on the wire."""

    def __init__(self, count: int, budget: Budget, sizes: dict[int, int] | None = None) -> None:
        super().__init__(count)
        self.budget, self.sizes = budget, sizes or {}
        self.held_during: list[int] = []

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        return [
            FetchedItem(u, (), self.sizes.get(u, len(raw(u))), None, None)
            for u in range(uid + 1, self.count + 1)
        ]

    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]:
        self.held_during.append(self.budget.held)
        return await super().bodies(batch)


async def test_item3_bodies_in_flight_hold_the_budget_until_their_commit() -> None:
    budget = Budget(100)  # bytes; each batch of 10 messages announces about 270
    imap = BudgetWatchingImap(45, budget)
    store = RecordingStore()
    limits = Limits(batch_count=10, bytes_in_flight=budget)
    await sync_imap(ACCOUNT, imap, store, LEASE, {}, limits, no_heartbeat)  # type: ignore[arg-type]
    batch_bytes = [sum(len(raw(u)) for u in range(start, min(start + 10, 46))) for start in range(1, 46, 10)]
    assert imap.held_during == batch_bytes, "over the limit, each batch waited for the one before"
    assert budget.held == 0
    assert store.cursor == Cursor(7, 45, None)


async def test_item3_a_failed_commit_gives_the_budget_back() -> None:
    budget = Budget(10_000)
    store = RecordingStore(fail_at_batch=2)
    limits = Limits(batch_count=10, bytes_in_flight=budget)
    with pytest.raises(RuntimeError, match="database down"):
        await sync_imap(ACCOUNT, BudgetWatchingImap(45, budget), store, LEASE, {}, limits, no_heartbeat)  # type: ignore[arg-type]
    assert (budget.held, budget.waiting) == (0, 0)


async def test_item3_a_message_over_the_maximum_is_listed_and_passed_never_fetched() -> None:
    budget = Budget(10_000)
    imap = BudgetWatchingImap(5, budget, sizes={3: 2_000_000, 5: 3_000_000})
    store = RecordingStore()
    limits = Limits(batch_count=10, bytes_in_flight=budget, max_message_bytes=1_000_000)
    counts = await sync_imap(ACCOUNT, imap, store, LEASE, {}, limits, no_heartbeat)  # type: ignore[arg-type]
    assert store.committed == [([1, 2, 4], 4)]
    assert store.cursor == Cursor(7, 5, None), "the cursor passes the skipped ones, the last one too"
    reason = "larger than the maximum message size of 1000000 bytes"
    assert counts.skipped == [
        {"folder": "INBOX", "uid": 3, "size": 2_000_000, "reason": reason},
        {"folder": "INBOX", "uid": 5, "size": 3_000_000, "reason": reason},
    ]
    assert counts.folders == {"INBOX": 5}
