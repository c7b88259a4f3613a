"""#17: the backoff of a temporary failure is chosen by the reply: a 4.7.x throttle, a greylisting
450, a 421 closing the connection and a network failure each mean something different; what the
outcome writes on the outbox item (next attempt, reason, give-up) and the limit wait."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from mailbridge.sender.model import OutboxStatus
from mailbridge.sender.retry_policy import (
    POLICIES,
    RetryReason,
    Slows,
    jitter,
    limit_wait_reply,
    retry_after_s,
    retry_delay,
    retry_reason,
    schedule_of,
    slows,
    waits_for_limit,
)

NOW = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("reply", "reason", "whom"),
    [
        ("message refused: 451 4.7.0 Temporary server error, rate limit exceeded", RetryReason.THROTTLED, Slows.MAILBOX),
        ("login as a at b rejected: 421 4.7.0 Too many connections, try later", RetryReason.THROTTLED, Slows.SERVER),
        ("sender a refused: 432 4.3.2 Concurrent connections limit exceeded", RetryReason.THROTTLED, Slows.MAILBOX),
        ("every recipient refused: bob@x: 450 4.2.0 <bob@x>: Recipient address rejected: Greylisted",
         RetryReason.GREYLISTED, Slows.NOTHING),
        ("every recipient refused: bob@x: 451 4.7.1 Greylisting in action, please come back later",
         RetryReason.GREYLISTED, Slows.NOTHING),
        ("message refused: 450 mailbox busy", RetryReason.GREYLISTED, Slows.NOTHING),
        ("127.0.0.1:25 answered during the transaction: 421 4.3.2 Service shutting down",
         RetryReason.CONNECTION_CLOSED, Slows.NOTHING),
        ("message refused: 452 4.3.1 Insufficient system storage", RetryReason.TEMPORARY, Slows.NOTHING),
        ("message refused: 552 5.3.4 too big for now", RetryReason.TEMPORARY, Slows.NOTHING),
        ("connection to smtp.example.org:587 refused: [Errno 111] Connection refused", RetryReason.NETWORK,
         Slows.NOTHING),
        ("timed out talking to user450@example.org: 30 s", RetryReason.NETWORK, Slows.NOTHING),
    ],
)  # fmt: skip
def test_the_reply_chooses_the_kind_of_retry(reply: str, reason: RetryReason, whom: Slows) -> None:
    assert retry_reason(reply) is reason
    assert slows(reply) is whom


@pytest.mark.parametrize("kind", list(RetryReason))
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(kind: RetryReason) -> None:
    policy = POLICIES[kind]
    assert retry_delay(kind, 1, lambda: 0.0) == policy.base_s / 2
    assert retry_delay(kind, 1, lambda: 1.0) == policy.base_s
    assert retry_delay(kind, 2, lambda: 1.0) == min(policy.cap_s, policy.base_s * 2)
    assert retry_delay(kind, 40, lambda: 1.0) == policy.cap_s


def test_each_kind_waits_differently() -> None:
    first = {kind: retry_delay(kind, 1, lambda: 1.0) for kind in RetryReason}
    assert first[RetryReason.GREYLISTED] == 300  # greylisters hold for minutes: not sooner
    assert first[RetryReason.THROTTLED] == 60
    assert first[RetryReason.CONNECTION_CLOSED] == 30
    assert first[RetryReason.TEMPORARY] == first[RetryReason.NETWORK] == 10


def test_the_jitter_is_fixed_per_mail_and_attempt_and_spreads_mails() -> None:
    one = uuid.uuid4()
    assert jitter(one, 1) == jitter(one, 1)
    found = [jitter(uuid.uuid4(), 1) for _ in range(50)]
    assert len({round(j, 3) for j in found}) > 40
    assert all(0 <= j < 1 for j in found)  # the fractions themselves (0.9996 rounds to 1.0)


def test_a_retry_schedules_the_next_attempt_by_its_reply() -> None:
    outbox_id = uuid.uuid4()
    found = schedule_of(outbox_id, OutboxStatus.QUEUED, "message refused: 450 4.2.0 Greylisted", 1, NOW)
    assert found.reason is RetryReason.GREYLISTED
    assert found.next_attempt_at is not None
    assert timedelta(seconds=150) <= found.next_attempt_at - NOW <= timedelta(seconds=300)
    assert (found.refund, found.gave_up_at) == (False, None)
    assert retry_after_s(outbox_id, "message refused: 450 4.2.0 Greylisted", 1, NOW) == found.delay_s(NOW)


def test_a_failed_mail_shows_when_it_was_given_up_and_a_sent_one_no_schedule() -> None:
    failed = schedule_of(uuid.uuid4(), OutboxStatus.FAILED, "message refused: 451 4.3.0 later", 8, NOW)
    assert (failed.gave_up_at, failed.next_attempt_at, failed.reason) == (NOW, None, None)
    sent = schedule_of(uuid.uuid4(), OutboxStatus.SENT, "250 2.0.0 Ok", 2, NOW)
    assert (sent.gave_up_at, sent.next_attempt_at, sent.reason) == (None, None, None)


def test_a_limit_wait_gives_its_attempt_back_and_comes_again_at_its_turn() -> None:
    turn = NOW + timedelta(minutes=7)
    reply = limit_wait_reply(turn, "its rates are used up")
    assert waits_for_limit(reply)
    assert not waits_for_limit("message refused: 451 4.7.0 rate limit")
    found = schedule_of(uuid.uuid4(), OutboxStatus.QUEUED, reply, 3, NOW)
    assert (found.reason, found.next_attempt_at, found.refund) == (RetryReason.LIMIT, turn, True)
    assert found.delay_s(NOW) == 420
