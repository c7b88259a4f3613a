"""FastStream handlers, one per request subject, on core NATS in one queue group: the raw body →
the use-case → the reply bytes. A body that does not parse gets a bad_request reply, and a
use-case that fails gets an `unavailable` one: an asker never waits for its timeout for nothing."""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.nats import NatsBroker
from mailbridge.common.messaging import current_message
from mailbridge.common.metrics import TOKEN_REFUSALS, TOKEN_REQUESTS
from mailbridge.common.oauth_requests import (
    CALLBACK_REQUEST_SUBJECT,
    CONNECT_REQUEST_SUBJECT,
    DEVICE_POLL_SUBJECT,
    DEVICE_START_SUBJECT,
    QUEUE_GROUP,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenRefused,
    CallbackRequest,
    ConnectRefused,
    ConnectRequest,
    DevicePollRequest,
    DeviceStartRequest,
    FlowRefusal,
    TokenReply,
)
from mailbridge.oauth_broker.answer_token_request import answer_token_request
from mailbridge.oauth_broker.callback import finish_callback
from mailbridge.oauth_broker.connect import start_connect
from mailbridge.oauth_broker.device import poll_device_flow, start_device_flow
from mailbridge.oauth_broker.flows import FlowDeps
from mailbridge.oauth_broker.ports import TokenSource
from pydantic import BaseModel, ValidationError

logger = logging.getLogger(__name__)
Request = TypeVar("Request", bound=BaseModel)


async def answer_flow_request(
    body: bytes, kind: type[Request], use_case: Callable[[Request], Awaitable[BaseModel]]
) -> BaseModel:
    """A flow request's body → its use-case's reply, or a refusal; never an exception."""
    try:
        request = kind.model_validate_json(body)
    except ValidationError as error:
        detail = f"not a {kind.__name__} ({error.error_count()} problems)"
        return ConnectRefused(account_id=None, error=FlowRefusal.BAD_REQUEST, detail=detail)
    try:
        reply = await use_case(request)
    except Exception:
        logger.exception("%s failed", kind.__name__)
        detail = "the OAuth broker failed to answer (see its log): try again later"
        return ConnectRefused(
            account_id=getattr(request, "account_id", None), error=FlowRefusal.UNAVAILABLE, detail=detail
        )
    if isinstance(reply, ConnectRefused):
        logger.info(
            "%s refused: %s",
            kind.__name__,
            reply.error,
            extra={"account_id": str(reply.account_id), "reason": reply.detail},
        )
    return reply


def count_token_reply(reply: TokenReply) -> None:
    """mailbridge_token_requests_total by answer, and each refusal by its kind."""
    if isinstance(reply, AccessTokenRefused):
        TOKEN_REQUESTS.labels("refused").inc()
        TOKEN_REFUSALS.labels(reply.error.value).inc()
    else:
        TOKEN_REQUESTS.labels("token").inc()


def register(broker: NatsBroker, tokens: TokenSource, flows: FlowDeps, workers: int) -> None:
    @broker.subscriber(TOKEN_REQUEST_SUBJECT, queue=QUEUE_GROUP, max_workers=workers)
    async def on_token_request() -> bytes:
        # The raw body: a request that is not JSON gets its bad_request reply, not FastStream's error.
        reply = await answer_token_request(tokens, current_message(broker).body)
        count_token_reply(reply)
        if isinstance(reply, AccessTokenRefused):
            logger.info(
                "token refused: %s", reply.error,
                extra={"account_id": str(reply.account_id), "reason": reply.detail},
            )  # fmt: skip
        return reply.model_dump_json().encode()

    flow_requests: list[tuple[str, type[BaseModel], Callable[[FlowDeps, Any], Awaitable[BaseModel]]]] = [
        (CONNECT_REQUEST_SUBJECT, ConnectRequest, start_connect),
        (CALLBACK_REQUEST_SUBJECT, CallbackRequest, finish_callback),
        (DEVICE_START_SUBJECT, DeviceStartRequest, start_device_flow),
        (DEVICE_POLL_SUBJECT, DevicePollRequest, poll_device_flow),
    ]
    for subject, kind, use_case in flow_requests:
        _register_flow_request(broker, subject, kind, functools.partial(use_case, flows), workers)


def _register_flow_request(
    broker: NatsBroker,
    subject: str,
    kind: type[BaseModel],
    use_case: Callable[[Any], Awaitable[BaseModel]],
    workers: int,
) -> None:
    # Several at once: one person's slow provider must not hold up another's connect.
    @broker.subscriber(subject, queue=QUEUE_GROUP, max_workers=workers)
    async def on_flow_request() -> bytes:
        reply = await answer_flow_request(current_message(broker).body, kind, use_case)
        return reply.model_dump_json().encode()
