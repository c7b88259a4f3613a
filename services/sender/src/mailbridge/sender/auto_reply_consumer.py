"""The out-of-office handler (A12): MailFetched → `auto_reply.answer_fetched` → ack, or retry later.

The sender takes MailFetched from its own durable consumer on the events stream
(`common.consumers.AUTO_REPLY_QUEUE`, "sender-auto-replies"), shared by the default pool's
senders, through the same pull loop as its commands. A decision recorded (or nothing to decide)
acks; a failure (the database away) is retried with the queue's backoff, and the decision's
primary key keeps a retry or redelivery from replying twice.
"""

import logging

from mailbridge.common.consumers import AUTO_REPLY_QUEUE
from mailbridge.common.events import MailFetched
from mailbridge.common.work_queue import PullConsumer, Settle, settle
from mailbridge.sender.auto_reply import AutoReplyDeps, answer_fetched
from nats.aio.msg import Msg

logger = logging.getLogger(__name__)


def auto_reply_consumer(deps: AutoReplyDeps, workers: int) -> PullConsumer[MailFetched]:
    queue = AUTO_REPLY_QUEUE

    async def on_mail_fetched(event: MailFetched, message: Msg) -> None:
        try:
            answered = await answer_fetched(deps, event.account_id, event.folder, event.message_id)
        except Exception:  # the database or a bug: try again later, the decision is still unmade
            logger.exception("auto-reply for message %s failed; retried later", event.message_id)
            await settle(message, Settle.RETRY, queue.backoff.delay_s(message.metadata.num_delivered))
            return
        if answered.recorded is not None:
            logger.info(
                "auto-reply %s", answered.outcome,
                extra={"message_id": str(event.message_id), "account_id": str(event.account_id)},
            )  # fmt: skip
        await settle(message, Settle.ACK)

    return PullConsumer.for_queue(queue, on_mail_fetched, workers)
