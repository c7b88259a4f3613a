"""FastStream handler: FetchRequested → fetch the account → ack, or nack with backoff."""

import logging

from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from mailbridge.common.events import FetchRequested, MailboxChangeRequested
from mailbridge.common.messaging import backoff_s, current_message
from mailbridge.common.streams import FETCH
from mailbridge.fetcher.changes import apply_change
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, Result, fetch_account
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

logger = logging.getLogger(__name__)
DURABLE = "fetcher"
CHANGES_DURABLE = "fetcher-changes"
ACK_WAIT_S = 120.0
BUSY_DELAY_S = 15.0
RETRY_BACKOFF_S = (5.0, 900.0)  # 5 s, 10 s, 20 s … at most 15 minutes


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
    async def on_fetch_requested(command: FetchRequested) -> None:
        message = current_message(broker)
        result = await fetch_account(deps, command.account_id, command.reason, message.in_progress)
        logger.info(
            "fetch %s", result.outcome,
            extra={"account_id": str(command.account_id), "reason": result.reason},
        )  # fmt: skip
        await _settle(message, result)

    @broker.subscriber(
        MailboxChangeRequested.subject,
        stream=JStream(FETCH.name, declare=False),
        durable=CHANGES_DURABLE,
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        max_workers=workers,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_deliver=max_deliver),
    )
    async def on_mailbox_change(command: MailboxChangeRequested) -> None:
        message = current_message(broker)
        result = await apply_change(deps, command)
        logger.info(
            "change %s", result.outcome,
            extra={"message_id": str(command.message_id), "action": command.action, "reason": result.reason},
        )  # fmt: skip
        await _settle(message, result)


async def _settle(message: NatsMessage, result: Result) -> None:
    """Ack what is finished; redeliver later what may succeed later."""
    if result.outcome is Outcome.RETRY:
        await message.nack(delay=backoff_s(message.raw_message.metadata.num_delivered, *RETRY_BACKOFF_S))
    elif result.outcome is Outcome.BUSY:
        await message.nack(delay=BUSY_DELAY_S)
    else:
        await message.ack()
