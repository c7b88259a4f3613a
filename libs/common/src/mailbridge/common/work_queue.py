"""A lean JetStream pull consumer for the work queues, and the one way their commands are settled.

FastStream's pull subscriber runs every message through its middlewares, its dependency
injection and an anyio task group: about 158 µs of CPU a command on these machines, against
about 32 µs for this plain nats-py pull loop (`bench/consume.py`, `bench/README.md`). Every work
queue (the fetcher's FetchRequested and MailboxChangeRequested, the sender's SendRequested) is
taken here, on the durable consumer `common.consumers` declares for it. The broker, its
connection and the publishing are FastStream's as before.

The loop keeps at most `workers` commands in flight: it pulls as many as there is room for
(at least a quarter of `workers` at a time, so a busy queue is not pulled one by one) and runs
the handler for each on its own task. The handler settles its message with `settle`: ack what
is finished, nak with a delay what may succeed later, terminate only what never can (after
recording why). An exception that escapes it settles nothing, so JetStream redelivers after
the consumer's ack wait (`messaging`'s rule). A command that does not parse can never succeed:
it is logged with the reason and terminated. Long work keeps its command with the message's
`in_progress()`, which restarts the ack wait. Each command runs as a step of the trace its
`traceparent` header names, for the command's `account_id` (common.tracing): what the handler
logs and publishes carries both.

A pull that fails for any other reason (the server unavailable, the connection closed, a
consumer that went away) is logged and tried again a second later: the loop never ends but by
`stop()`. `stop()` pulls no more, gives the commands in flight `grace_s` to finish and cancels
the rest, which are then redelivered; so is a command the server handed to the last, cancelled
pull, after the consumer's ack wait.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from enum import StrEnum
from typing import Generic, TypeVar

from mailbridge.common.consumers import WorkQueue
from mailbridge.common.events import Message
from mailbridge.common.streams import stream_for
from mailbridge.common.tracing import step, traceparent_of
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import ServiceUnavailableError
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

logger = logging.getLogger(__name__)
Command = TypeVar("Command", bound=Message)
Handler = Callable[[Command, Msg], Awaitable[None]]
RETRY_PULL_S = 1.0  # after the server was unavailable or the connection closed


class Settle(StrEnum):
    """How a command ends: every service maps its own outcome to one of these."""

    ACK = "ack"  # finished, or nothing left to do: gone from the queue
    RETRY = "retry"  # may succeed later: delivered again after a delay
    TERM = "term"  # can never succeed: never delivered again


async def settle(message: Msg, how: Settle, delay_s: float = 0.0) -> None:
    """Ack, nak to come again after `delay_s` (RETRY), or terminate the command's message."""
    if how is Settle.ACK:
        await message.ack()
    elif how is Settle.RETRY:
        await message.nak(delay=delay_s)
    else:
        await message.term()


class PullConsumer(Generic[Command]):
    def __init__(
        self, command: type[Command], handler: Handler[Command], *, durable: str, config: ConsumerConfig,
        workers: int, pull_timeout_s: float = 5.0,
    ) -> None:  # fmt: skip
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._command, self._handler, self._durable = command, handler, durable
        self._config, self._workers, self._pull_timeout_s = config, workers, pull_timeout_s
        self._refill = max(1, workers // 4)
        self._running: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None

    @classmethod
    def for_queue(
        cls, queue: WorkQueue[Command], handler: Handler[Command], workers: int, *,
        ack_wait_s: float | None = None, max_deliver: int | None = None,
    ) -> "PullConsumer[Command]":  # fmt: skip
        """The consumer of a declared work queue, with a service's own settings where it has them."""
        config = queue.config(ack_wait_s=ack_wait_s, max_deliver=max_deliver)
        return cls(queue.command, handler, durable=queue.durable, config=config, workers=workers)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def start(self, js: JetStreamContext) -> None:
        """Bind (or create) the durable consumer and start pulling."""
        subject = self._command.subject
        self._subscription = await js.pull_subscribe(
            subject, durable=self._durable, stream=stream_for(subject).name, config=self._config
        )
        self._loop = asyncio.create_task(self._pull(self._subscription), name=f"pull {self._durable}")

    async def stop(self, grace_s: float) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        if self._subscription is not None:  # a lingering pull would hold up the connection's drain
            with suppress(ConnectionClosedError):
                await self._subscription.unsubscribe()
            self._subscription = None
        if self._running:
            _, late = await asyncio.wait(set(self._running), timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _pull(self, subscription: JetStreamContext.PullSubscription) -> None:
        while True:
            while self._workers - len(self._running) < self._refill:
                self._room.clear()
                await self._room.wait()
            try:
                messages = await subscription.fetch(
                    self._workers - len(self._running), timeout=self._pull_timeout_s
                )
            except (NatsTimeoutError, TimeoutError):  # nothing queued within the timeout
                continue
            except (ConnectionClosedError, ServiceUnavailableError) as error:
                logger.warning("pulling %s failed: %s; trying again", self._durable, error)
                await asyncio.sleep(RETRY_PULL_S)
                continue
            except Exception:  # whatever it was, the queue must keep being served
                logger.exception("pulling %s failed; trying again", self._durable)
                await asyncio.sleep(RETRY_PULL_S)
                continue
            for message in messages:
                task = asyncio.create_task(self._run(message))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._room.set()

    async def _run(self, message: Msg) -> None:
        try:
            command = self._command.model_validate_json(message.data)
        except ValidationError as error:
            logger.error("%s: a command that does not parse is dropped: %s", self._durable, error)
            await settle(message, Settle.TERM)
            return
        account_id = getattr(command, "account_id", None)
        with step(self._durable, traceparent_of(message.headers), account_id, SpanKind.CONSUMER):
            try:
                await self._handler(command, message)
            except Exception:  # settles nothing: JetStream redelivers after the ack wait
                logger.exception("%s: the handler failed; the command is redelivered later", self._durable)
