"""The G2 schedule as pure functions: interval slots and their de-duplication ids.

Slots are aligned to the Unix epoch, so every config-api replica computes the same slot and the
same `Nats-Msg-Id` for an account; JetStream keeps one FetchRequested per account and slot.
"""

import uuid
from datetime import UTC, datetime, timedelta


def slot_start(now: datetime, interval_minutes: int) -> datetime:
    seconds = interval_minutes * 60
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def next_slot(now: datetime, interval_minutes: int) -> datetime:
    return slot_start(now, interval_minutes) + timedelta(minutes=interval_minutes)


def scheduled_fetch_id(account_id: uuid.UUID, slot: datetime) -> str:
    return f"fetch:{account_id}:{slot.strftime('%Y-%m-%dT%H:%M')}"
