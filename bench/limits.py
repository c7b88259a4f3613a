"""Shared limits: NATS KV against the database as the compare-and-set store (#17).

The same `SharedLimits` (common/shared_limits.py) runs on each store: NATS KV (`limits_kv`, an
embedded nats-server on loopback), SQLite (a file, WAL) and PostgreSQL (a private cluster from
testkit, or `--postgres URL`). The database store is the obvious one table of (key, value,
revision) with an INSERT for revision 0 and an UPDATE … WHERE revision = :seen, written here only.

Measured per store: a mail's admission (two rates and a pause read, two rates written: what a
send costs) and a connection slot taken and given back, one at a time (latency) and from two
instances with 32 tasks each on the same keys (contention: every lost race reads again).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from mailbridge.common.limit_rules import Rate
from mailbridge.common.limits_kv import KvStore, limits_bucket
from mailbridge.common.messaging import create_broker
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.shared_limits import CasStore, Count, SharedLimits, scope_key
from mailbridge.testkit.databases import fresh_postgres_database
from mailbridge.testkit.private_postgres import PrivatePostgres
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert, make_url, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

STATES = Table(
    "bench_limit_states", MetaData(),
    Column("key", String(80), primary_key=True), Column("value", LargeBinary), Column("revision", Integer),
)  # fmt: skip


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def read(self, key: str) -> tuple[bytes | None, int]:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(select(STATES.c.value, STATES.c.revision).where(STATES.c.key == key))
            ).first()
        return (row.value, row.revision) if row else (None, 0)

    async def write(self, key: str, value: bytes, revision: int) -> bool:
        async with self._engine.begin() as connection:
            if revision == 0:
                try:
                    await connection.execute(insert(STATES).values(key=key, value=value, revision=1))
                except IntegrityError:
                    return False
                return True
            changed = await connection.execute(
                update(STATES).where(STATES.c.key == key, STATES.c.revision == revision)
                .values(value=value, revision=revision + 1)
            )  # fmt: skip
            return bool(changed.rowcount)


async def admission(limits: SharedLimits, tag: str) -> Callable[[], Awaitable[None]]:
    day, minute = Rate(10**9, 86_400.0), Rate(10**9, 60.0)
    counts = [Count(scope_key("rate", tag, "minute"), minute), Count(scope_key("rate", tag, "day"), day, 3)]
    pauses = [scope_key("pause", tag)]

    async def one() -> None:
        await limits.admit(counts, pauses, horizon_s=0)

    return one


async def slot(limits: SharedLimits, tag: str) -> Callable[[], Awaitable[None]]:
    key = scope_key("conn", tag)

    async def one() -> None:
        taken = await limits.take_slot(key, None)
        assert taken is not None
        await limits.give_back(key, taken)

    return one


async def measure(store: CasStore, count: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for name, make in (("admission", admission), ("slot take+give back", slot)):
        tag = uuid.uuid4().hex
        single = await make(SharedLimits(store), tag)
        await single()  # the first write creates the keys
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            await single()
            latencies.append(time.perf_counter() - started)
        figures[f"{name}, one at a time: median µs"] = statistics.median(latencies) * 1e6
        pair = [await make(SharedLimits(store), tag) for _ in range(2)]
        started = time.perf_counter()

        async def worker(run: Callable[[], Awaitable[None]]) -> None:
            for _ in range(count // 64):
                await run()

        await asyncio.gather(*(worker(run) for run in pair for _ in range(32)))
        done = (count // 64) * 64
        figures[f"{name}, 2×32 tasks on one key: per second"] = done / (time.perf_counter() - started)
    return figures


@asynccontextmanager
async def stores(postgres: str | None, folder: Path) -> AsyncIterator[dict[str, CasStore]]:
    async with AsyncExitStack() as stack:
        nats = start_embedded_nats(folder / "nats")
        stack.callback(nats.stop)
        broker = create_broker(nats.url, "bench-limits")
        await broker.connect()
        stack.push_async_callback(broker.stop)
        found: dict[str, CasStore] = {"NATS KV": KvStore(await limits_bucket(broker.connection.jetstream()))}
        if postgres is None:
            cluster = stack.enter_context(PrivatePostgres())
            postgres = cluster.url.render_as_string(hide_password=False)
        pg_url = await stack.enter_async_context(fresh_postgres_database(make_url(postgres)))
        for name, url in (("SQLite", f"sqlite+aiosqlite:///{folder}/limits.db"), ("PostgreSQL", pg_url)):
            engine = create_async_engine(url)
            stack.push_async_callback(engine.dispose)
            async with engine.begin() as connection:
                if name == "SQLite":
                    await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                await connection.run_sync(STATES.metadata.create_all)
            found[name] = SqlStore(engine)
        yield found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000, help="operations per figure")
    parser.add_argument("--postgres", help="a PostgreSQL server URL; default: a private cluster")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mb-limits-") as scratch:
        async with stores(args.postgres, Path(scratch)) as found:
            for name, store in found.items():
                for figure, value in (await measure(store, args.count)).items():
                    print(f"{name:10} {figure}: {value:,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
