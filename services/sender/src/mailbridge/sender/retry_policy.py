"""How long a temporary failure waits, chosen by what the server answered (#17).

The reply says what kind of "later" it means (RFC 5321 §4.2, RFC 3463 enhanced codes):
- `throttled`: a provider counting us: an enhanced code 4.7.x other than greylisting (4.7.0
  "rate limit exceeded", Microsoft's 4.7.500-699), or 432 4.3.2 (Microsoft 365's "concurrent
  connections limit exceeded"). Retried after a minute or more, and the mailbox is paused for
  every replica as long (a 421 with 4.7.x pauses the whole server: the server closed on us).
- `greylisted`: 450, or any reply that says greylisting: the server wants us back, but not before
  a few minutes (greylisters typically hold 1–5 minutes): 5 minutes, then slowly longer.
- `connection_closed`: 421 without 4.7.x: the service is going away (restart, overload); it
  comes back soon: 30 s.
- `temporary`: any other 4xx (and 552): the usual exponential backoff from 10 s.
- `network`: no reply at all (DNS, refused, TLS, timeout): as `temporary`.
Each doubles per attempt up to its cap (30 minutes, the work queue's longest), with "equal
jitter" (half the delay fixed, half random) so mails deferred together do not come back together.
A mail over one of our provider limits (`limit`) waits exactly until its turn, spending no attempt.

`schedule_of` is what an outcome writes on the outbox item (`next_attempt_at`, `retry_reason`,
`gave_up_at`); the command is nakked with the same delay (`subscribers`), the jitter being a
fixed fraction per mail and attempt so both agree.
"""

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from mailbridge.sender.model import OutboxStatus


class RetryReason(StrEnum):
    THROTTLED = "throttled"
    GREYLISTED = "greylisted"
    CONNECTION_CLOSED = "connection_closed"
    TEMPORARY = "temporary"
    NETWORK = "network"
    LIMIT = "limit"  # waiting for a provider limit of ours (shared_limits): no attempt spent


class Slows(StrEnum):
    NOTHING = "nothing"
    MAILBOX = "mailbox"
    SERVER = "server"


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    slows: Slows = Slows.NOTHING


CAP_S = 1800.0
POLICIES = {
    RetryReason.THROTTLED: Backoff(60.0, CAP_S, Slows.MAILBOX),
    RetryReason.GREYLISTED: Backoff(300.0, CAP_S),
    RetryReason.CONNECTION_CLOSED: Backoff(30.0, CAP_S),
    RetryReason.TEMPORARY: Backoff(10.0, CAP_S),
    RetryReason.NETWORK: Backoff(10.0, CAP_S),
    RetryReason.LIMIT: Backoff(1.0, CAP_S),
}
# A reply inside our reasons: "…: 421 4.7.0 text" (smtp_replies.replied and all_refused put ": "
# before each code), with or without an enhanced code.
_REPLY = re.compile(r"(?:^|: )([245]\d\d)[ -](?:([245])\.(\d{1,3})\.(\d{1,3})\b)?")
_GREYLISTING = re.compile(r"gr[ae]y-?list", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: tuple[int, int, int] | None


def first_reply(reason: str) -> Reply | None:
    found = _REPLY.search(reason)
    if found is None:
        return None
    code, klass, subject, detail = found.groups()
    enhanced = (int(klass), int(subject), int(detail)) if klass else None
    return Reply(int(code), enhanced)


def retry_reason(reason: str) -> RetryReason:
    """The kind of temporary failure a recorded reply (or network reason) names."""
    reply = first_reply(reason)
    if reply is None:
        return RetryReason.NETWORK
    if _GREYLISTING.search(reason):
        return RetryReason.GREYLISTED
    policy = reply.enhanced is not None and reply.enhanced[1] == 7
    if policy or (reply.code == 432 and reply.enhanced == (4, 3, 2)):
        return RetryReason.THROTTLED
    if reply.code == 450:
        return RetryReason.GREYLISTED
    if reply.code == 421:
        return RetryReason.CONNECTION_CLOSED
    return RetryReason.TEMPORARY


def slows(reason: str) -> Slows:
    """Whom a throttling answer slows: the mailbox, or the whole server when it closed on us."""
    kind = retry_reason(reason)
    if kind is not RetryReason.THROTTLED:
        return Slows.NOTHING
    reply = first_reply(reason)
    return Slows.SERVER if reply is not None and reply.code == 421 else Slows.MAILBOX


def retry_delay(kind: RetryReason, attempt: int, rand: Callable[[], float]) -> float:
    """Seconds before attempt `attempt` + 1: base × 2^(attempt−1), capped, with equal jitter."""
    policy = POLICIES[kind]
    delay = min(policy.cap_s, policy.base_s * 2.0 ** max(0, attempt - 1))
    return delay / 2 + rand() * delay / 2


# A mail over a provider limit of ours waits its turn without spending an attempt: the send
# records this reply (readable on the outbox item) and the schedule reads the time back from it.
LIMIT_WAIT = "waiting its turn under the provider's limits until "
# A turn within this waits in the sender (MAILBRIDGE_SEND_LIMIT_WAIT_S); a later one is deferred.
SEND_LIMIT_WAIT_S = 60.0


def limit_wait_reply(until: datetime, what: str) -> str:
    return f"{LIMIT_WAIT}{until.astimezone(UTC).isoformat(timespec='seconds')} ({what}; no attempt spent)"


def limit_wait_until(reply: str) -> datetime | None:
    if not waits_for_limit(reply):
        return None
    return datetime.fromisoformat(reply[len(LIMIT_WAIT) :].split(" ", 1)[0])


def jitter(outbox_id: uuid.UUID, attempt: int) -> float:
    """A fixed random-looking fraction per mail and attempt: the delay recorded on the item and the
    one the command is nakked with are the same, and mails deferred together spread out."""
    digest = hashlib.sha256(f"{outbox_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


@dataclass(frozen=True)
class Schedule:
    """What an attempt's outcome writes on the outbox item (#17)."""

    next_attempt_at: datetime | None
    reason: RetryReason | None
    refund: bool  # the attempt this claim counted is given back (a limit wait)
    gave_up_at: datetime | None

    def delay_s(self, now: datetime) -> float | None:
        return (
            None if self.next_attempt_at is None else max(0.0, (self.next_attempt_at - now).total_seconds())
        )


def schedule_of(
    outbox_id: uuid.UUID, status: OutboxStatus, reply: str, attempt: int, now: datetime
) -> Schedule:
    """Queued again: when, and why (the reply's kind chooses the backoff); failed: given up now."""
    if status is OutboxStatus.FAILED:
        return Schedule(None, None, False, now)
    if status is not OutboxStatus.QUEUED:
        return Schedule(None, None, False, None)
    until = limit_wait_until(reply)
    if until is not None:
        return Schedule(until, RetryReason.LIMIT, True, None)
    kind = retry_reason(reply)
    delay = retry_delay(kind, attempt, lambda: jitter(outbox_id, attempt))
    return Schedule(now + timedelta(seconds=delay), kind, False, None)


def retry_after_s(outbox_id: uuid.UUID, reply: str, attempt: int, now: datetime) -> float:
    """How long a retried command waits: the delay its outcome wrote on the item."""
    return schedule_of(outbox_id, OutboxStatus.QUEUED, reply, attempt, now).delay_s(now) or 0.0


def waits_for_limit(reply: str) -> bool:
    """A limit wait is no failed attempt: it never turns into a give-up at `max_attempts`."""
    return reply.startswith(LIMIT_WAIT)
