"""FastStream handler: SendRequested → send the outbox mail → ack, or nack with backoff.

Two pools (S6): the default pool takes SendRequested; `--pool egress` takes only
EgressSendRequested (mail that must leave from the server's fixed egress). Neither takes the other's.
"""

import logging

from faststream.nats import JStream, NatsBroker, PullSub
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.messaging import backoff_s, current_message
from mailbridge.common.streams import SEND
from mailbridge.sender.send_outbox import SendDeps, Settle, send_outbox
from nats.js.api import AckPolicy, ConsumerConfig

logger = logging.getLogger(__name__)
ACK_WAIT_S = 120.0
RETRY_BACKOFF_S = (10.0, 1800.0)  # 10 s, 20 s, 40 s … at most 30 minutes
MAX_PULL = 64  # commands fetched per pull request; the workers bound how many run at once
POOLS = {"default": (SendRequested, "sender"), "egress": (EgressSendRequested, "sender-egress")}


def register(
    broker: NatsBroker, deps: SendDeps, pool: str, workers: int, ack_wait_s: float = ACK_WAIT_S
) -> None:
    command, durable = POOLS[pool]

    @broker.subscriber(
        command.subject,
        stream=JStream(SEND.name, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=min(workers, MAX_PULL), timeout=5.0),
        max_workers=workers,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_deliver=-1),
    )
    async def on_send_requested(body: SendRequested) -> None:
        message = current_message(broker)
        result = await send_outbox(deps, body.outbox_id)
        logger.info(
            "send %s", result.settle, extra={"outbox_id": str(body.outbox_id), "detail": result.detail}
        )
        if result.settle is Settle.RETRY:
            await message.nack(delay=backoff_s(result.attempt, *RETRY_BACKOFF_S))
        else:
            await message.ack()
