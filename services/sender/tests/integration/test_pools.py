"""S6: mail that must leave via the server's egress reaches only the egress pool's consumer, and
the default pool's consumer never sees it (real nats-server, the pools' own subjects)."""

import uuid
from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.streams import SEND, ensure_streams
from mailbridge.sender.subscribers import POOLS


@pytest.fixture
async def broker(nats_url: str) -> AsyncIterator[NatsBroker]:
    running = create_broker(nats_url, "pool-test")
    await running.connect()
    await ensure_streams(running.connection.jetstream())
    yield running
    await running.stop()


async def _drain(broker: NatsBroker, pool: str) -> set[uuid.UUID]:
    command = POOLS[pool].command
    durable = f"pool-test-{pool}-{uuid.uuid4().hex[:8]}"
    js = broker.connection.jetstream()
    subscription = await js.pull_subscribe(command.subject, durable=durable, stream=SEND.name)
    seen: set[uuid.UUID] = set()
    try:
        while True:
            messages = await subscription.fetch(50, timeout=0.5)
            for message in messages:
                seen.add(command.model_validate_json(message.data).outbox_id)
                await message.ack()
    except TimeoutError:
        return seen
    finally:
        await subscription.unsubscribe()
        await js.delete_consumer(SEND.name, durable)


async def test_s6_egress_mail_goes_to_the_egress_pool_only(broker: NatsBroker) -> None:
    normal = {uuid.uuid4() for _ in range(3)}
    egress = {uuid.uuid4() for _ in range(2)}
    for outbox_id in normal:
        await publish(broker, SendRequested(outbox_id=outbox_id), 5, msg_id=str(outbox_id))
    for outbox_id in egress:
        await publish(broker, EgressSendRequested(outbox_id=outbox_id), 5, msg_id=str(outbox_id))
    assert egress <= await _drain(broker, "egress")
    default = await _drain(broker, "default")
    assert normal <= default
    assert not default & egress
