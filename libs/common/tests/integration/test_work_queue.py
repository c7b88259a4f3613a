"""`work_queue.PullConsumer` against a real nats-server: each command handled and settled once,
at most `workers` at once, a command that does not parse terminated, a failed handler's command
redelivered, and `stop()` letting the commands in flight finish (or cancelling them after the grace)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from faststream.nats import NatsBroker
from mailbridge.common.events import SendRequested
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.streams import SEND, ensure_streams
from mailbridge.common.work_queue import PullConsumer
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

DURABLE = "work-queue-test"


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    broker: NatsBroker = create_broker(nats_url, "test")
    await broker.connect()
    js = broker.connection.jetstream()
    await ensure_streams(js)
    await js.purge_stream(SEND.name)
    # SEND is a work-queue stream: a filtered durable must be its subject's only one, so one a
    # service test left on the session's server is removed first.
    for info in await js.consumers_info(SEND.name):
        await js.delete_consumer(SEND.name, info.name)
    yield js
    await js.delete_consumer(SEND.name, DURABLE)
    await broker.stop()


def consumer(
    handler: Callable[[SendRequested, Msg], Awaitable[None]], workers: int = 4, ack_wait_s: float = 30.0
) -> PullConsumer[SendRequested]:
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s, max_deliver=-1)
    return PullConsumer(SendRequested, handler, durable=DURABLE, config=config, workers=workers)


async def send_requests(js: JetStreamContext, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    for outbox_id in ids:
        await js.publish(SendRequested.subject, SendRequested(outbox_id=outbox_id).model_dump_json().encode())
    return ids


def recorder(handled: list[uuid.UUID]) -> Callable[[SendRequested, Msg], Awaitable[None]]:
    """A handler that notes each command's outbox id and acks it."""

    async def handle(command: SendRequested, message: Msg) -> None:
        handled.append(command.outbox_id)
        await message.ack()

    return handle


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the state of several handlers, polled
            await asyncio.sleep(0.01)


async def test_each_command_is_handled_once_with_at_most_workers_at_once(js: JetStreamContext) -> None:
    handled: list[uuid.UUID] = []
    running, most = 0, 0

    async def handle(command: SendRequested, message: Msg) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        handled.append(command.outbox_id)
        running -= 1
        await message.ack()

    commands = consumer(handle, workers=4)
    await commands.start(js)
    ids = await send_requests(js, 60)
    await until(lambda: len(handled) == len(ids))
    await commands.stop(5.0)
    assert sorted(handled) == sorted(ids)
    assert 1 < most <= 4
    info = await js.consumer_info(SEND.name, DURABLE)
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)


async def test_a_command_that_does_not_parse_is_terminated_not_redelivered(js: JetStreamContext) -> None:
    handled: list[uuid.UUID] = []
    commands = consumer(recorder(handled), ack_wait_s=1.0)
    await commands.start(js)
    await js.publish(SendRequested.subject, b'{"outbox_id": "not a uuid"}')
    ids = await send_requests(js, 1)
    await until(lambda: handled == ids)
    await asyncio.sleep(1.5)  # past the ack wait: an unsettled command would be back by now
    await commands.stop(5.0)
    assert handled == ids
    info = await js.consumer_info(SEND.name, DURABLE)
    assert (info.num_ack_pending, info.num_redelivered) == (0, 0)


async def test_a_handler_that_fails_settles_nothing_and_the_command_comes_back(js: JetStreamContext) -> None:
    attempts: list[uuid.UUID] = []

    async def handle(command: SendRequested, message: Msg) -> None:
        attempts.append(command.event_id)
        if len(attempts) == 1:
            raise RuntimeError("the database is gone for a moment")
        await message.ack()

    commands = consumer(handle, ack_wait_s=1.0)
    await commands.start(js)
    await send_requests(js, 1)
    await until(lambda: len(attempts) == 2)
    await commands.stop(5.0)
    assert attempts[0] == attempts[1]


async def test_stop_lets_the_commands_in_flight_finish(js: JetStreamContext) -> None:
    started, acked = asyncio.Event(), []

    async def handle(command: SendRequested, message: Msg) -> None:
        started.set()
        await asyncio.sleep(0.3)
        await message.ack()
        acked.append(command.outbox_id)

    commands = consumer(handle)
    await commands.start(js)
    ids = await send_requests(js, 1)
    await started.wait()
    await commands.stop(5.0)
    assert acked == ids
    assert commands.in_flight == 0


async def test_stop_cancels_what_outlives_the_grace_and_it_is_redelivered(js: JetStreamContext) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(command: SendRequested, message: Msg) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    first = consumer(stuck, ack_wait_s=1.0)
    await first.start(js)
    ids = await send_requests(js, 1)
    await started.wait()
    await first.stop(0.1)
    assert cancelled.is_set()

    handled: list[uuid.UUID] = []
    second = consumer(recorder(handled), ack_wait_s=1.0)
    await second.start(js)
    await until(lambda: handled == ids)
    await second.stop(5.0)


async def test_publishing_through_the_broker_reaches_the_consumer(
    nats_url: str, js: JetStreamContext
) -> None:
    """The commands the services publish (with Nats-Msg-Id) are the ones the consumer takes."""
    handled: list[uuid.UUID] = []
    broker = create_broker(nats_url, "test-publisher")
    await broker.connect()
    commands = consumer(recorder(handled))
    await commands.start(js)
    outbox_id = uuid.uuid4()
    await publish(broker, SendRequested(outbox_id=outbox_id), 5.0, msg_id=str(outbox_id))
    await until(lambda: handled == [outbox_id])
    await commands.stop(5.0)
    await broker.stop()


async def test_a_consumer_that_went_away_and_came_back_is_served_again(
    js: JetStreamContext, caplog: pytest.LogCaptureFixture
) -> None:
    handled: list[uuid.UUID] = []
    commands = PullConsumer(
        SendRequested, recorder(handled), durable=DURABLE, workers=4, pull_timeout_s=0.2,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0, max_deliver=-1),
    )  # fmt: skip
    await commands.start(js)
    await js.delete_consumer(SEND.name, DURABLE)
    await asyncio.sleep(1.0)  # pulls fail meanwhile; the loop must outlive them
    await js.add_consumer(
        SEND.name, ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30.0)
    )
    ids = await send_requests(js, 1)
    await until(lambda: handled == ids)
    await commands.stop(5.0)
    assert any("pulling work-queue-test failed" in record.getMessage() for record in caplog.records)
