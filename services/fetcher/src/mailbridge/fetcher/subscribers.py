"""FastStream handler: FetchRequested → fetch the account → ack, or nack with backoff."""

import logging

from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from mailbridge.common.events import FetchRequested
from mailbridge.common.streams import FETCH
from mailbridge.fetcher.failures import retry_delay_s
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, fetch_account
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

logger = logging.getLogger(__name__)
DURABLE = "fetcher"
ACK_WAIT_S = 120.0
BUSY_DELAY_S = 15.0


def register(broker: NatsBroker, deps: FetchDeps, workers: int, max_deliver: int) -> None:
    """A durable pull consumer shared by every fetcher replica (work-queue semantics)."""

    @broker.subscriber(
        FetchRequested.subject,
        stream=JStream(FETCH.name, declare=False),
        durable=DURABLE,
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        max_workers=workers,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_deliver=max_deliver,
            deliver_policy=DeliverPolicy.ALL,
        ),
    )
    async def on_fetch_requested(command: FetchRequested, message: NatsMessage) -> None:
        result = await fetch_account(deps, command.account_id, command.reason, message.in_progress)
        logger.info(
            "fetch %s", result.outcome,
            extra={"account_id": str(command.account_id), "reason": result.reason},
        )  # fmt: skip
        if result.outcome is Outcome.RETRY:
            attempt = message.raw_message.metadata.num_delivered
            await message.nack(delay=retry_delay_s(attempt))
        elif result.outcome is Outcome.BUSY:
            await message.nack(delay=BUSY_DELAY_S)
        else:
            await message.ack()
