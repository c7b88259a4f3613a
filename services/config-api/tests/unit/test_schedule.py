"""G2 schedule slots: aligned to the epoch, so every replica computes the same id."""

import uuid
from datetime import UTC, datetime

from mailbridge.config_api.fetching.schedule import next_slot, scheduled_fetch_id, slot_start


def test_slots_align_to_the_interval() -> None:
    now = datetime(2026, 11, 27, 1, 44, 59, tzinfo=UTC)
    assert slot_start(now, 15) == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert next_slot(now, 15) == datetime(2026, 11, 27, 1, 45, tzinfo=UTC)
    assert slot_start(now, 60) == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_same_account_and_slot_give_the_same_id() -> None:
    account = uuid.uuid4()
    first = slot_start(datetime(2026, 11, 27, 1, 31, tzinfo=UTC), 15)
    second = slot_start(datetime(2026, 11, 27, 1, 44, tzinfo=UTC), 15)
    assert scheduled_fetch_id(account, first) == scheduled_fetch_id(account, second)
    later = slot_start(datetime(2026, 11, 27, 1, 46, tzinfo=UTC), 15)
    assert scheduled_fetch_id(account, later) != scheduled_fetch_id(account, first)
