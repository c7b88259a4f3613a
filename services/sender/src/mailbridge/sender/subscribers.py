"""The sender's handler: SendRequested → send the outbox mail → ack, or nak with backoff.

Two pools (S6): the default pool takes SendRequested; `--pool egress` takes only
EgressSendRequested (mail that must leave from the server's fixed egress). Neither takes the other's.
Commands arrive through `common.work_queue` (a lean pull loop; see there why not a FastStream
subscriber) on the durable `common.consumers` declares for the pool, shared by its senders.
"""

import logging
import time
import uuid

from mailbridge.common.consumers import EGRESS_SEND_QUEUE, SEND_QUEUE, WorkQueue
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import SendRequested
from mailbridge.common.metrics import SEND_DURATION, SENDS
from mailbridge.common.work_queue import PullConsumer, settle
from mailbridge.sender.model import Verdict
from mailbridge.sender.retry_policy import retry_after_s
from mailbridge.sender.send_outbox import SendDeps, SendResult, send_outbox
from nats.aio.msg import Msg

logger = logging.getLogger(__name__)
POOLS: dict[str, WorkQueue[SendRequested]] = {"default": SEND_QUEUE, "egress": EGRESS_SEND_QUEUE}


def consumer(
    deps: SendDeps, pool: str, workers: int, ack_wait_s: float | None = None
) -> PullConsumer[SendRequested]:
    queue = POOLS[pool]

    async def on_send_requested(body: SendRequested, message: Msg) -> None:
        started = time.perf_counter()
        result = await send_outbox(deps, body.outbox_id)
        count_send(result, time.perf_counter() - started)
        logger.info(
            "send %s", result.settle, extra={"outbox_id": str(body.outbox_id), "detail": result.detail}
        )
        await settle(message, result.settle, retry_delay_s(body.outbox_id, result, queue))

    return PullConsumer.for_queue(queue, on_send_requested, workers, ack_wait_s=ack_wait_s)


SEND_LABELS = {Verdict.DONE: "sent", Verdict.RETRY: "retry", Verdict.GIVE_UP: "failed"}


def retry_delay_s(outbox_id: uuid.UUID, result: SendResult, queue: WorkQueue[SendRequested]) -> float:
    """A retried mail comes back when its item says (`retry_policy`, chosen by the reply); a
    command that found its row in another worker's hands, with the queue's backoff."""
    if result.verdict is not Verdict.RETRY or result.attempt == 0:
        return queue.backoff.delay_s(result.attempt)
    return retry_after_s(outbox_id, result.detail, result.attempt, utcnow())


def send_label(result: SendResult) -> str:
    """The outcome label of mailbridge_sends_total: sent, retry, failed; or nothing_to_do for a
    command whose row was already finished (a redelivery: no attempt of its own, attempt 0)."""
    if result.verdict is Verdict.DONE and result.attempt == 0:
        return "nothing_to_do"
    return SEND_LABELS[result.verdict]


def count_send(result: SendResult, seconds: float) -> None:
    """One send's metrics: mailbridge_sends_total and its duration by outcome."""
    label = send_label(result)
    SENDS.labels(label).inc()
    SEND_DURATION.labels(label).observe(seconds)
