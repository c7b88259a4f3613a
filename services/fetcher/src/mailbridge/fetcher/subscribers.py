"""The fetcher's handlers: FetchRequested → fetch the account, MailboxChangeRequested → apply the
change; each command then acked, or nakked with backoff (a retry) or after BUSY_DELAY_S (the
account is being fetched elsewhere).

Commands arrive through `common.work_queue` on the durables `common.consumers` declares
(`fetcher`, `fetcher-changes`), shared by every fetcher replica (work-queue semantics). A fetch
keeps its command with the message's `in_progress()` while it runs (its heartbeat, at least with
each lease renewal), so the fetch durable's ack wait follows the lease TTL (`fetch_ack_wait_s`).
"""

import logging
import time

from mailbridge.common.consumers import CHANGES_QUEUE, FETCH_QUEUE, Backoff, fetch_ack_wait_s
from mailbridge.common.events import FetchRequested, MailboxChangeRequested
from mailbridge.common.metrics import FETCH_DURATION, FETCHES, MESSAGES_STORED
from mailbridge.common.work_queue import PullConsumer, Settle, settle
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, Result, fetch_account
from nats.aio.msg import Msg

logger = logging.getLogger(__name__)
BUSY_DELAY_S = 15.0


def consumers(
    deps: FetchDeps, workers: int, max_deliver: int
) -> tuple[PullConsumer[FetchRequested], PullConsumer[MailboxChangeRequested]]:
    """The fetch and the change consumers, `workers` commands in flight each."""

    async def on_fetch_requested(command: FetchRequested, message: Msg) -> None:
        started = time.perf_counter()
        result = await fetch_account(deps, command.account_id, command.reason, message.in_progress)
        count_fetch(result, time.perf_counter() - started)
        logger.info(
            "fetch %s", result.outcome,
            extra={"account_id": str(command.account_id), "reason": result.reason},
        )  # fmt: skip
        await settle(message, *settling(result, message.metadata.num_delivered, FETCH_QUEUE.backoff))

    async def on_mailbox_change(command: MailboxChangeRequested, message: Msg) -> None:
        result = await apply_change(deps, command)
        logger.info(
            "change %s", result.outcome,
            extra={"message_id": str(command.message_id), "action": command.action, "reason": result.reason},
        )  # fmt: skip
        await settle(message, *settling(result, message.metadata.num_delivered, CHANGES_QUEUE.backoff))

    ack_wait_s = fetch_ack_wait_s(deps.limits.lease_ttl.total_seconds())  # follows the lease
    return (
        PullConsumer.for_queue(
            FETCH_QUEUE, on_fetch_requested, workers, max_deliver=max_deliver, ack_wait_s=ack_wait_s
        ),
        PullConsumer.for_queue(CHANGES_QUEUE, on_mailbox_change, workers, max_deliver=max_deliver),
    )


def fetch_label(result: Result) -> str:
    """The outcome label of mailbridge_fetches_total: a done fetch is ok, partial or failed (as
    its fetch state records it); the others are their outcome (busy, skipped, retry)."""
    if result.outcome is not Outcome.DONE:
        return result.outcome.value
    if result.counts is None:
        return "failed"  # a permanent failure, recorded and acked
    return "partial" if result.counts.failed else "ok"


def count_fetch(result: Result, seconds: float) -> None:
    """One fetch's metrics: its count and duration by outcome, the messages it stored."""
    label = fetch_label(result)
    FETCHES.labels(label).inc()
    FETCH_DURATION.labels(label).observe(seconds)
    if result.counts is not None and result.counts.new:
        MESSAGES_STORED.inc(result.counts.new)


def settling(result: Result, delivered: int, backoff: Backoff) -> tuple[Settle, float]:
    """How a command ends, and after what delay it comes again: DONE and SKIPPED are acked; a RETRY
    comes again after the backoff for its `delivered`-th delivery, a BUSY one after BUSY_DELAY_S."""
    if result.outcome is Outcome.RETRY:
        return Settle.RETRY, backoff.delay_s(delivered)
    if result.outcome is Outcome.BUSY:
        return Settle.RETRY, BUSY_DELAY_S
    return Settle.ACK, 0.0
