"""NATS wiring: the broker factory (explicit acks, explicit timeouts) and event publishing.

Acknowledgement policy: MANUAL. A handler acks what it finished, nacks with a delay what may
succeed later and terminates only what never can (after recording why). An exception that
escapes a handler acks nothing, so JetStream redelivers after the consumer's ack wait:
at-least-once, never silently dropped (FastStream's own default would reject the message).
"""

import asyncio
import logging

from faststream.middlewares import AckPolicy
from faststream.nats import NatsBroker
from faststream.nats.message import NatsMessage
from mailbridge.common.events import Message
from mailbridge.common.streams import stream_for
from mailbridge.common.tracing import trace_headers
from nats.js.api import PubAck

MSG_ID_HEADER = "Nats-Msg-Id"
GRACEFUL_TIMEOUT_S = 15.0  # at shutdown, for the handlers still running


def create_broker(url: str, service: str, connect_timeout_s: float = 5.0) -> NatsBroker:
    return NatsBroker(
        url,
        name=f"mailbridge-{service}",
        connect_timeout=int(max(1, connect_timeout_s)),
        ack_policy=AckPolicy.MANUAL,
        graceful_timeout=GRACEFUL_TIMEOUT_S,
        max_reconnect_attempts=-1,
        logger=logging.getLogger(f"mailbridge.{service}.nats"),
    )


def backoff_s(attempt: int, base_s: float, cap_s: float) -> float:
    """Delay before redelivery attempt `attempt` (1-based): base, 2×base, 4×base … capped."""
    return float(min(cap_s, base_s * 2 ** max(0, attempt - 1)))


async def connect(broker: NatsBroker, url: str, timeout_s: float) -> None:
    """Connect with a hard deadline (the client would otherwise retry for ever at start-up)."""
    try:
        await asyncio.wait_for(broker.connect(), timeout_s)
    except TimeoutError as error:
        raise ConnectionError(f"NATS at {url} did not answer within {timeout_s} s") from error


async def publish(
    broker: NatsBroker, message: Message, timeout_s: float, msg_id: str | None = None
) -> PubAck:
    """Publish to the stream that captures the message's subject and wait for JetStream's ack.

    With `msg_id`, JetStream drops a second publish of the same id within the stream's
    duplicate window (the returned ack then says `duplicate`). Published inside a traced step
    (common.tracing), it carries the step's `traceparent`.
    """
    headers = {MSG_ID_HEADER: msg_id or str(message.event_id), **trace_headers()}
    ack = await broker.publish(
        message.model_dump_json().encode(),
        subject=message.subject,
        headers=headers,
        stream=stream_for(message.subject).name,
        timeout=timeout_s,
    )
    assert isinstance(ack, PubAck)
    return ack


def current_message(broker: NatsBroker) -> NatsMessage:
    """The message a handler is running for. Handlers take it from here rather than as an
    injected `NatsMessage` parameter: FastStream resolves an injected one in a worker thread,
    a thread hop for every message."""
    message = broker.context.get_local("message")
    if not isinstance(message, NatsMessage):
        raise RuntimeError("current_message() is only meaningful inside a NATS message handler")
    return message
