"""S11/S12 without a server: which stored POP3 messages are deleted, and when."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from fetcher_testing import ACCOUNT
from mailbridge.common.endpoints import IncomingProtocol
from mailbridge.fetcher.pop3_deletion import deletes_any, due_for_deletion

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
POP3 = replace(ACCOUNT, protocol=IncomingProtocol.POP3)
KEEP = POP3
S11 = replace(POP3, delete_after_fetch=True)
S12 = replace(POP3, delete_after_days=3)
FIRST_SEEN = {"new": NOW, "two-days": NOW - timedelta(days=2), "old": NOW - timedelta(days=10)}


def test_neither_set_deletes_nothing() -> None:
    assert not deletes_any(KEEP)
    assert due_for_deletion(KEEP, FIRST_SEEN, set(), NOW) == []


def test_s11_deletes_every_stored_message_on_the_server_sorted() -> None:
    assert deletes_any(S11)
    assert due_for_deletion(S11, FIRST_SEEN, set(), NOW) == ["new", "old", "two-days"]


def test_s11_wins_over_s12() -> None:
    both = replace(S11, delete_after_days=30)
    assert due_for_deletion(both, FIRST_SEEN, set(), NOW) == ["new", "old", "two-days"]


def test_s12_counts_days_from_the_first_download_inclusive() -> None:
    assert deletes_any(S12)
    exactly = {
        "exactly": NOW - timedelta(days=3),
        "a second short": NOW - timedelta(days=3) + timedelta(seconds=1),
    }
    assert due_for_deletion(S12, FIRST_SEEN | exactly, set(), NOW) == ["exactly", "old"]


def test_s12_of_zero_days_deletes_what_was_stored() -> None:
    assert due_for_deletion(replace(POP3, delete_after_days=0), FIRST_SEEN, set(), NOW) == [
        "new", "old", "two-days",
    ]  # fmt: skip


def test_only_stored_messages_and_never_a_stand_in() -> None:
    assert due_for_deletion(S11, {}, set(), NOW) == []
    assert due_for_deletion(S11, FIRST_SEEN, {"old", "not-stored"}, NOW) == ["new", "two-days"]
    assert due_for_deletion(S12, FIRST_SEEN, {"old"}, NOW) == []
