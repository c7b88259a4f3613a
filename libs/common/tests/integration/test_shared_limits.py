"""#17: limits shared by every replica, on the session's real NATS KV: two `SharedLimits`
(two replicas) on one bucket respect one rate, see each other's throttling pause, and share
connection slots, which a dead replica's lease gives back."""

import uuid
from collections.abc import AsyncIterator

import pytest
from faststream.nats import NatsBroker
from mailbridge.common.limit_rules import Rate
from mailbridge.common.limits_kv import KvStore, limits_bucket
from mailbridge.common.messaging import create_broker
from mailbridge.common.shared_limits import Count, SharedLimits, scope_key
from nats.js.kv import KeyValue


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def bucket(nats_url: str) -> AsyncIterator[tuple[KeyValue, list[str]]]:
    broker: NatsBroker = create_broker(nats_url, "test-limits")
    await broker.connect()
    kv = await limits_bucket(broker.connection.jetstream())
    keys: list[str] = []
    yield kv, keys
    for key in keys:  # this test's keys only: the bucket is the session's
        await kv.purge(key)
    await broker.stop()


def key(keys: list[str], kind: str) -> str:
    found = scope_key(kind, uuid.uuid4())
    keys.append(found)
    return found


async def test_two_replicas_together_respect_one_rate(bucket: tuple[KeyValue, list[str]]) -> None:
    kv, keys = bucket
    clock = Clock()
    one, two = SharedLimits(KvStore(kv), clock), SharedLimits(KvStore(kv), clock)
    rate = [Count(key(keys, "rate"), Rate(3, 60.0))]
    admitted = [await replica.admit(rate, [], horizon_s=0) for replica in (one, two, one, two)]
    assert [a.reserved for a in admitted] == [True, True, True, False]
    assert admitted[3].at == clock.now + 20.0  # the fourth waits for the first unit back
    later = await two.admit(rate, [], horizon_s=30)  # within the horizon: reserved for later
    assert (later.reserved, later.at) == (True, clock.now + 20.0)
    clock.now += 60.0
    assert (await one.admit(rate, [], horizon_s=0)).reserved


async def test_a_throttle_seen_by_one_replica_slows_the_other(bucket: tuple[KeyValue, list[str]]) -> None:
    kv, keys = bucket
    clock = Clock()
    one, two = SharedLimits(KvStore(kv), clock), SharedLimits(KvStore(kv), clock)
    rate, pause = [Count(key(keys, "rate"), Rate(30, 60.0))], key(keys, "pause")
    assert (await two.admit(rate, [pause], horizon_s=0)).reserved
    await one.pause(pause, 120.0)
    held_back = await two.admit(rate, [pause], horizon_s=60)
    assert (held_back.reserved, held_back.at) == (False, clock.now + 120.0)
    clock.now += 121.0
    assert (await two.admit(rate, [pause], horizon_s=0)).reserved


async def test_connection_slots_are_shared_and_a_dead_replicas_expire(
    bucket: tuple[KeyValue, list[str]],
) -> None:
    kv, keys = bucket
    clock = Clock()
    one = SharedLimits(KvStore(kv), clock, lease_s=60)
    two = SharedLimits(KvStore(kv), clock, lease_s=60)
    slots = key(keys, "conn")
    first = await one.take_slot(slots, 2)
    assert first is not None
    assert await two.take_slot(slots, 2) is not None
    assert await two.take_slot(slots, 2) is None  # three would pass the limit of two
    await one.give_back(slots, first)
    assert await two.take_slot(slots, 2) is not None
    clock.now += 50
    assert await two.renew() == 2  # `one` holds nothing now and renews nothing; `two` lives on
    clock.now += 30
    assert await one.take_slot(slots, 3) is not None  # two's slots renewed: 2 + this one
    assert await one.take_slot(slots, 3) is None


async def test_a_refused_connection_teaches_every_replica_the_servers_limit(
    bucket: tuple[KeyValue, list[str]],
) -> None:
    kv, keys = bucket
    clock = Clock()
    one, two = SharedLimits(KvStore(kv), clock), SharedLimits(KvStore(kv), clock)
    slots = key(keys, "conn")
    held = [await one.take_slot(slots, None), await two.take_slot(slots, None)]
    assert await one.learn(slots) == 2
    assert await two.take_slot(slots, None) is None  # the learned limit holds for both
    for replica, slot in zip((one, two), held, strict=True):
        assert slot is not None
        await replica.give_back(slots, slot)
    assert await one.take_slot(slots, None) is not None  # nobody held one: forgotten
