"""#17: the shared limits' bucket, and another replica's hold on a login's connection slots, for the
tests that show a connection takes one, gives it back on every path, and is refused (saying so)
when all are held."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from mailbridge.common.credential_checks import CheckReply, Code, Status, Step
from mailbridge.common.limits_kv import KvStore, limits_bucket
from mailbridge.common.messaging import create_broker
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.testkit.credential_reports import by_step, failed_at
from nats.js.kv import KeyValue


@asynccontextmanager
async def shared_bucket(nats_url: str, name: str) -> AsyncIterator[KeyValue]:
    """The limits' bucket on the session's NATS, as a service binds it (created when missing)."""
    broker = create_broker(nats_url, name)
    await broker.connect()
    try:
        yield await limits_bucket(broker.connection.jetstream())
    finally:
        await broker.stop()


class OtherReplica:
    """Another replica's SharedLimits on the same bucket, looking at one login's slots (`key`)."""

    def __init__(self, bucket: KeyValue, key: str) -> None:
        self.limits, self.key = SharedLimits(KvStore(bucket)), key

    async def free(self, limit: int = 1) -> bool:
        """Whether a slot under `limit` is free now (taken and given back at once)."""
        slot = await self.limits.take_slot(self.key, limit)
        if slot is not None:
            await self.limits.give_back(self.key, slot)
        return slot is not None

    async def hold(self, limit: int = 1) -> str:
        slot = await self.limits.take_slot(self.key, limit)
        assert slot is not None, "a slot was still held"
        return slot

    async def release(self, slot: str) -> None:
        await self.limits.give_back(self.key, slot)


async def check_refused_while_held(
    other: OtherReplica, check: Callable[[], Awaitable[CheckReply]], step: Step, protocol: str, field: str
) -> None:
    """A credentials test passes and gives its one slot back; with the slot held elsewhere, `step`
    fails with `connection_limit_reached` naming the protocol and the limit, and holds nothing."""
    reply = await check()
    assert all(report.status is Status.OK for report in reply.steps), reply.steps
    assert await other.free(), "the test's connection gave its slot back"
    held = await other.hold()
    try:
        reply = await check()
        failed_at(reply.steps, step, Code.CONNECTION_LIMIT_REACHED)
        said = by_step(reply.steps)[step].message
        assert f"already holds all 1 {protocol.upper()} connections" in said
        assert field in said
    finally:
        await other.release(held)
    assert await other.free(), "a refused test holds nothing"
