"""Identifiers are time-ordered; every event has a distinct versioned subject; redelivery backoff."""

from mailbridge.common.events import ALL_MESSAGES
from mailbridge.common.ids import new_id
from mailbridge.common.messaging import backoff_s


def test_new_ids_are_version_7_and_ordered() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids), "strictly increasing within a process, even within a millisecond"
    assert len(set(ids)) == len(ids)


def test_event_subjects_are_unique_and_versioned() -> None:
    subjects = [message.subject for message in ALL_MESSAGES]
    assert len(set(subjects)) == len(subjects)
    assert all(subject.startswith("mailbridge.") and ".v" in subject for subject in subjects)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n, 5.0, 30.0) for n in range(0, 6)] == [5.0, 5.0, 10.0, 20.0, 30.0, 30.0]
