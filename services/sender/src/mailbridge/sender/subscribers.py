"""The sender's handler: SendRequested → send the outbox mail → ack, or nak with backoff.

Two pools (S6): the default pool takes SendRequested; `--pool egress` takes only
EgressSendRequested (mail that must leave from the server's fixed egress). Neither takes the other's.
Commands arrive through `common.work_queue` (a lean pull loop; see there why not a FastStream
subscriber) on a durable consumer shared by every sender of the pool.
"""

import logging

from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.messaging import backoff_s
from mailbridge.common.work_queue import PullConsumer
from mailbridge.sender.send_outbox import SendDeps, Settle, send_outbox
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

logger = logging.getLogger(__name__)
ACK_WAIT_S = 120.0
RETRY_BACKOFF_S = (10.0, 1800.0)  # 10 s, 20 s, 40 s … at most 30 minutes
POOLS = {"default": (SendRequested, "sender"), "egress": (EgressSendRequested, "sender-egress")}


def consumer(
    deps: SendDeps, pool: str, workers: int, ack_wait_s: float = ACK_WAIT_S
) -> PullConsumer[SendRequested]:
    command, durable = POOLS[pool]

    async def on_send_requested(body: SendRequested, message: Msg) -> None:
        result = await send_outbox(deps, body.outbox_id)
        logger.info(
            "send %s", result.settle, extra={"outbox_id": str(body.outbox_id), "detail": result.detail}
        )
        if result.settle is Settle.RETRY:
            await message.nak(delay=backoff_s(result.attempt, *RETRY_BACKOFF_S))
        else:
            await message.ack()

    return PullConsumer(
        command, on_send_requested, durable=durable, workers=workers,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_deliver=-1),
    )  # fmt: skip
