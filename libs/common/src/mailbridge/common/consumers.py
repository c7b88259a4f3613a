"""The durable consumers of the work queues: declared once, here, beside their streams.

Each work queue names its command (and so its subject and stream), the durable consumer every
replica of the service shares, how long a command may go unacknowledged before JetStream hands it
to another replica (ack wait; long work sends `in_progress()`), how often it is delivered at most,
and how a command that may succeed later is delayed (backoff from `base_s`, doubled each
attempt, at most `cap_s`). The services build their `work_queue.PullConsumer` from these; a
service's settings may override the ack wait and the maximum deliveries.

A durable is created with these settings, and `mailbridge setup` (which `mailbridge run` runs
too) brings an existing one's ack wait and maximum deliveries up to them on each deploy, both
editable in place; other changes (the stream, the filter) are a deliberate migration step.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from mailbridge.common.events import (
    EgressSendRequested,
    FetchRequested,
    MailboxChangeRequested,
    MailFetched,
    Message,
    SendRequested,
)
from mailbridge.common.messaging import backoff_s
from mailbridge.common.streams import StreamSpec, stream_for
from mailbridge.common.webhook_events import WEBHOOK_EVENTS, AnyEvent
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

Command = TypeVar("Command", bound=Message)
UNLIMITED = -1  # max_deliver: delivered until it is settled


@dataclass(frozen=True)
class Backoff:
    """Delay before redelivery attempt n (1-based): base, 2×base, 4×base … at most cap."""

    base_s: float
    cap_s: float

    def delay_s(self, attempt: int) -> float:
        return backoff_s(attempt, self.base_s, self.cap_s)


@dataclass(frozen=True)
class WorkQueue(Generic[Command]):
    command: type[Command]
    durable: str
    ack_wait_s: float
    max_deliver: int
    backoff: Backoff
    # Several subjects read through one durable (the webhooks' events); empty: the command's own.
    subjects: tuple[str, ...] = ()

    @property
    def stream(self) -> StreamSpec:
        return stream_for(self.command.subject)

    def config(self, *, ack_wait_s: float | None = None, max_deliver: int | None = None) -> ConsumerConfig:
        """The durable's configuration, with a service's own settings where it has them."""
        return ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait_s if ack_wait_s is None else ack_wait_s,
            max_deliver=self.max_deliver if max_deliver is None else max_deliver,
            deliver_policy=DeliverPolicy.ALL,
            filter_subjects=list(self.subjects) or None,
        )


# The fetcher: one command per account and schedule slot; given up after
# MAILBRIDGE_FETCH_MAX_DELIVER deliveries (20 by default). A running fetch renews its lease and
# its command's ack wait together (`fetcher.lease_keeper`), so the ack wait follows the lease:
# a killed fetcher's commands come back just after its leases expired (MAILBRIDGE_FETCH_LEASE_TTL_S).
FETCH_LEASE_TTL_S = 30.0  # the default of MAILBRIDGE_FETCH_LEASE_TTL_S
FETCH_ACK_MARGIN_S = 5.0  # redelivered after the lease expired, never while it is held


def fetch_ack_wait_s(lease_ttl_s: float) -> float:
    """The fetch durable's ack wait for a fetcher's lease TTL: the lease, and a margin so the
    command comes back once the lease has expired (a redelivery meeting a held lease is nakked
    as busy for 15 s)."""
    return lease_ttl_s + FETCH_ACK_MARGIN_S


FETCH_QUEUE = WorkQueue(
    FetchRequested, "fetcher", fetch_ack_wait_s(FETCH_LEASE_TTL_S), 20, Backoff(5.0, 900.0)
)  # backoff 5 s, 10 s … 15 min
CHANGES_QUEUE = WorkQueue(MailboxChangeRequested, "fetcher-changes", 120.0, 20, Backoff(5.0, 900.0))
# The sender's two pools (S6): a mail is delivered until its outbox row is finished (the row counts
# the attempts); MAILBRIDGE_SEND_ACK_WAIT_S may override the ack wait.
SEND_QUEUE = WorkQueue(SendRequested, "sender", 120.0, UNLIMITED, Backoff(10.0, 1800.0))  # 10 s … 30 min
EGRESS_SEND_QUEUE: WorkQueue[SendRequested] = WorkQueue(
    EgressSendRequested, "sender-egress", 120.0, UNLIMITED, Backoff(10.0, 1800.0)
)
# Out-of-office (A12): the sender's default pool reads MailFetched from the events stream (not a
# work queue: other readers see the same events) on a durable of its own; a decision is recorded
# once per message, so a redelivery is harmless.
AUTO_REPLY_QUEUE = WorkQueue(MailFetched, "sender-auto-replies", 60.0, 20, Backoff(5.0, 900.0))
# Webhooks (#18): config-api's replicas share one durable on the events stream for the five event
# types a business app may subscribe to; each event is recorded as deliveries in the database
# before it is acked (the retries run from there), so a failure here only delays the recording.
WEBHOOK_QUEUE = WorkQueue(
    AnyEvent, "config-api-webhooks", 60.0, UNLIMITED, Backoff(5.0, 900.0),
    subjects=tuple(model.subject for model in WEBHOOK_EVENTS.values()),
)  # fmt: skip
ALL_QUEUES = (FETCH_QUEUE, CHANGES_QUEUE, SEND_QUEUE, EGRESS_SEND_QUEUE, AUTO_REPLY_QUEUE, WEBHOOK_QUEUE)
