"""Consume benchmark: CPU per command through a FastStream pull subscriber vs `common.work_queue`.

Queues N SendRequested on an embedded nats-server, then takes them with a handler that only
acks, once through FastStream's pull subscriber (64 workers, as the sender had) and once through
`PullConsumer` (64 workers); prints commands/s and the consuming process's CPU per command, and
the ratio. Everything on loopback.
"""

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from faststream.nats import JStream, NatsBroker, PullSub
from mailbridge.common.events import SendRequested
from mailbridge.common.messaging import create_broker, current_message, publish
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.streams import SEND, ensure_streams
from mailbridge.common.work_queue import PullConsumer
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

WORKERS = 64
CONFIG = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=120, max_deliver=-1)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def queue(broker: NatsBroker, count: int) -> None:
    ids = [uuid.uuid4() for _ in range(count)]
    for start in range(0, count, 1000):
        await asyncio.gather(*(
            publish(broker, SendRequested(outbox_id=i), 10, msg_id=str(i)) for i in ids[start : start + 1000]
        ))  # fmt: skip


async def faststream_run(broker: NatsBroker, count: int, done: asyncio.Event) -> None:
    seen = 0

    @broker.subscriber(
        SendRequested.subject, stream=JStream(SEND.name, declare=False), durable="bench",
        pull_sub=PullSub(batch_size=WORKERS, timeout=5.0), max_workers=WORKERS, config=CONFIG,
    )  # fmt: skip
    async def handle(body: SendRequested) -> None:
        nonlocal seen
        await current_message(broker).ack()
        seen += 1
        if seen == count:
            done.set()

    await broker.start()
    await done.wait()


async def work_queue_run(broker: NatsBroker, count: int, done: asyncio.Event) -> None:
    seen = 0

    async def handle(body: SendRequested, message: Msg) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen == count:
            done.set()

    consumer = PullConsumer(SendRequested, handle, durable="bench", config=CONFIG, workers=WORKERS)
    await consumer.start(broker.connection.jetstream())
    await done.wait()
    await consumer.stop(5.0)


async def measure(
    run: Callable[[NatsBroker, int, asyncio.Event], Awaitable[None]], count: int, folder: Path
) -> tuple[float, float]:
    """(commands/s, µs of CPU per command) of one way of consuming."""
    nats = start_embedded_nats(folder / uuid.uuid4().hex)
    broker = create_broker(nats.url, "bench")
    try:
        await broker.connect()
        await ensure_streams(broker.connection.jetstream())
        await queue(broker, count)
        cpu, started = cpu_s(), time.perf_counter()
        await run(broker, count, asyncio.Event())
        elapsed, used = time.perf_counter() - started, cpu_s() - cpu
        return count / elapsed, used / count * 1e6
    finally:
        await broker.stop()
        nats.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-consume-") as scratch:
        base_rate, base_cpu = await measure(faststream_run, args.commands, Path(scratch))
        print(
            f"FastStream pull subscriber (baseline): {base_rate:.0f} commands/s, {base_cpu:.0f} µs CPU each"
        )
        rate, cpu = await measure(work_queue_run, args.commands, Path(scratch))
        print(f"work_queue.PullConsumer: {rate:.0f} commands/s, {cpu:.0f} µs CPU each; "
              f"{rate / base_rate:.1f}× the rate, {cpu / base_cpu:.2f} of the CPU")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
