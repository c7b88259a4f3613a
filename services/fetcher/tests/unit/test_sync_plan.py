"""IMAP sync planning (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) and bounded batches."""

import pytest
from mailbridge.fetcher.sync_plan import Cursor, FolderStatus, Pending, batches, plan_folder_sync, uid_set


def status(uidvalidity: int = 7, uidnext: int | None = 11, modseq: int | None = 50) -> FolderStatus:
    return FolderStatus(uidvalidity, uidnext, modseq, exists=10)


def test_first_sync_fetches_everything() -> None:
    plan = plan_folder_sync(status(), None, sync_flags=True)
    assert (plan.reset, plan.fetch_after_uid, plan.flags_changed_since) == (False, 0, None)


def test_no_change_is_nothing_to_do() -> None:
    assert plan_folder_sync(status(), Cursor(7, 10, 50), sync_flags=True).nothing_to_do


def test_new_messages_after_the_last_uid() -> None:
    plan = plan_folder_sync(status(uidnext=15), Cursor(7, 10, 50), sync_flags=True)
    assert plan.fetch_after_uid == 10
    assert plan.flags_changed_since is None


def test_changed_modseq_asks_for_flags_since_the_known_one() -> None:
    plan = plan_folder_sync(status(modseq=60), Cursor(7, 10, 50), sync_flags=True)
    assert (plan.fetch_after_uid, plan.flags_changed_since) == (None, 50)


def test_imap_download_never_syncs_flags() -> None:
    assert plan_folder_sync(status(modseq=60), Cursor(7, 10, 50), sync_flags=False).nothing_to_do


def test_without_condstore_flags_are_compared_every_time() -> None:
    plan = plan_folder_sync(status(modseq=None), Cursor(7, 10, None), sync_flags=True)
    assert plan.flags_changed_since == 0


def test_uidvalidity_change_resets_the_folder() -> None:
    plan = plan_folder_sync(status(uidvalidity=8), Cursor(7, 10, 50), sync_flags=True)
    assert (plan.reset, plan.fetch_after_uid) == (True, 0)


def test_batches_are_bounded_by_count_and_bytes() -> None:
    pending = [Pending(uid, 10) for uid in range(1, 8)] + [Pending(8, 1000), Pending(9, 10)]
    sizes = [[p.uid for p in batch] for batch in batches(pending, max_count=3, max_bytes=100)]
    assert sizes == [[1, 2, 3], [4, 5, 6], [7], [8], [9]]


@pytest.mark.parametrize(
    ("uids", "expected"), [([1, 2, 3, 7, 9, 10], "1:3,7,9:10"), ([5], "5"), ([3, 1, 2, 2], "1:3"), ([], "")]
)
def test_uid_set(uids: list[int], expected: str) -> None:
    assert uid_set(uids) == expected
