"""FastStream handler: a token request → the use-case → the reply, on core NATS in one queue group."""

import logging

from faststream.nats import NatsBroker
from mailbridge.common.messaging import current_message
from mailbridge.common.oauth_requests import QUEUE_GROUP, TOKEN_REQUEST_SUBJECT, AccessTokenRefused
from mailbridge.oauth_broker.answer_token_request import answer_token_request
from mailbridge.oauth_broker.ports import TokenSource

logger = logging.getLogger(__name__)


def register(broker: NatsBroker, tokens: TokenSource, workers: int) -> None:
    @broker.subscriber(TOKEN_REQUEST_SUBJECT, queue=QUEUE_GROUP, max_workers=workers)
    async def on_token_request() -> bytes:
        # The raw body: a request that is not JSON gets its bad_request reply, not FastStream's error.
        reply = await answer_token_request(tokens, current_message(broker).body)
        if isinstance(reply, AccessTokenRefused):
            logger.info(
                "token refused: %s", reply.error,
                extra={"account_id": str(reply.account_id), "reason": reply.detail},
            )  # fmt: skip
        return reply.model_dump_json().encode()
