"""Scale benchmark (#15): fetch throughput with 1, 2 and 3 fetcher processes against a mail server
that answers with a remote provider's delay, and what one fetcher's no-change poll costs.

Accounts are users of the harness's Dovecot with a few small messages each (Maildir files). Every
IMAP connection goes through `testkit.delay_proxy` (each chunk the client sends is held
`--delay-ms`, 20 ms by default, before it reaches Dovecot), so a fetch waits on the network
rather than on CPU, as against a real provider. Per fetcher count, on a fresh PostgreSQL
database and a fresh NATS: one FetchRequested per account (as the G2 schedule publishes them)
→ every account's fetch finished and every message stored; printed: accounts and messages per
second and the ratio to one fetcher.

Then the idle account: one fetcher polls accounts that have nothing new, first with its logged-in
connections kept (`MAILBRIDGE_IMAP_KEEP_CONNECTIONS`, at most `--idle-accounts` of them: the
harness's Dovecot runs at most 100 IMAP sessions), then with none kept (a TLS handshake and LOGIN
per poll, what accounts beyond the kept ones cost). Printed per poll: the fetcher's CPU, wall
time and connections; and the accounts one fetcher keeps within the 15-minute schedule: by CPU
(900 s / CPU per poll, one core) and by waiting (900 s × workers / wall per poll), the smaller
of the two being the figure. 10,000 is the aim.
"""

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.streams import ensure_streams
from mailbridge.testkit.databases import ENV_URL, fresh_postgres_database, postgres_server
from mailbridge.testkit.delay_proxy import Proxy, delay_proxy
from mailbridge.testkit.fetcher_fleet import (
    FetcherFleet,
    ImapAccount,
    add_imap_accounts,
    add_mail_users,
    fetch_queue_durable,
    fetcher_env,
    seed_each,
    wait_for_pullers,
)
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy import func, select
from sqlalchemy.engine import URL

SCHEDULE_S = 900.0  # G2's default interval
WORKERS = 8  # MAILBRIDGE_FETCH_WORKERS, the default
RUN_DEADLINE_S = 600.0


class Rig:
    """One run's database, NATS and fetcher processes, torn down at the end."""

    def __init__(self, url: str, nats_url: str, fleet: FetcherFleet, accounts: list[ImapAccount]) -> None:
        self.url, self.nats_url, self.fleet, self.accounts = url, nats_url, fleet, accounts
        self.engine = create_engine(url)
        self.sessions = create_session_factory(self.engine)

    async def request_all(self) -> None:
        broker = create_broker(self.nats_url, "bench-scale")
        await broker.connect()
        try:
            for account in self.accounts:
                command = FetchRequested(account_id=account.account_id, reason=FetchReason.SCHEDULED)
                await publish(broker, command, 5)
        finally:
            await broker.stop()

    async def stored(self) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(StoredMessage)) or 0)

    async def wait_done(self, fetches: int, messages: int) -> None:
        deadline = time.monotonic() + RUN_DEADLINE_S
        while self.fleet.done_count() < fetches or await self.stored() < messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.fleet.done_count()} of {fetches} fetches after {RUN_DEADLINE_S} s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def rig(
    server: URL, stack: MailStack, proxy: Proxy, users: list[MailUser], fetchers: int, folder: Path,
    settings: dict[str, str],
) -> AsyncIterator[Rig]:  # fmt: skip
    """Fresh database and NATS, the accounts, `fetchers` processes pulling: ready to fetch."""
    key = generate_key()
    async with fresh_postgres_database(server) as url:
        await upgrade_async(url)
        nats = start_embedded_nats(folder / "nats")
        engine = create_engine(url)
        try:
            accounts = await add_imap_accounts(
                create_session_factory(engine), SecretBox([key]), users, proxy.port
            )
            broker = create_broker(nats.url, "bench-scale-setup")
            await broker.connect()
            js = broker.connection.jetstream()
            await ensure_streams(js)
            await fetch_queue_durable(js, 120.0)
            fleet = FetcherFleet(fetcher_env(url, nats.url, key, stack.ca_file, folder, settings), folder)
            fleet.start(fetchers)
            try:
                await wait_for_pullers(js, fetchers)
                await broker.stop()
                running = Rig(url, nats.url, fleet, accounts)
                try:
                    yield running
                finally:
                    await running.engine.dispose()
            finally:
                fleet.stop_all()
        finally:
            await engine.dispose()
            nats.stop()


async def throughput(
    server: URL, stack: MailStack, proxy: Proxy, users: list[MailUser], messages: int, fetchers: int,
    folder: Path,
) -> tuple[float, float, int]:  # fmt: skip
    """Seconds, the fetchers' CPU seconds and the delayed client chunks (round trips) for the
    initial fetch of every account."""
    # Each account is fetched once: a kept connection would only hold one of Dovecot's sessions.
    settings = {"MAILBRIDGE_IMAP_KEEP_CONNECTIONS": "0"}
    async with rig(server, stack, proxy, users, fetchers, folder, settings) as running:
        cpu, chunks, started = running.fleet.cpu_seconds(), proxy.counts.chunks, time.perf_counter()
        await running.request_all()
        await running.wait_done(len(users), len(users) * messages)
        seconds = time.perf_counter() - started
        return seconds, running.fleet.cpu_seconds() - cpu, proxy.counts.chunks - chunks


async def idle_poll(
    server: URL, stack: MailStack, proxy: Proxy, users: list[MailUser], messages: int, keep: int,
    rounds: int, folder: Path,
) -> tuple[float, float, float]:  # fmt: skip
    """Per no-change poll of one fetcher (its 8 workers polling at once): CPU seconds, elapsed
    seconds and connections, averaged over `rounds` polls of every account after its initial fetch."""
    settings = {"MAILBRIDGE_IMAP_KEEP_CONNECTIONS": str(keep)}
    async with rig(server, stack, proxy, users, 1, folder, settings) as running:
        await running.request_all()
        await running.wait_done(len(users), len(users) * messages)
        fetches = len(users)
        cpu, connections, started = running.fleet.cpu_seconds(), proxy.counts.connections, time.perf_counter()
        for _ in range(rounds):
            await running.request_all()
            fetches += len(users)
            await running.wait_done(fetches, len(users) * messages)
        polls = rounds * len(users)
        seconds = time.perf_counter() - started
        return (
            (running.fleet.cpu_seconds() - cpu) / polls,
            seconds / polls,
            (proxy.counts.connections - connections) / polls,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=240, help="accounts fetched in the throughput runs")
    parser.add_argument("--messages", type=int, default=5, help="messages per account (about 1 KB each)")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="delay of each chunk the client sends")
    parser.add_argument("--fetchers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--idle-accounts", type=int, default=80, help="at most 90: Dovecot's session limit")
    parser.add_argument("--idle-rounds", type=int, default=3)
    parser.add_argument("--postgres", help=f"a PostgreSQL URL; default {ENV_URL}, else a private cluster")
    args = parser.parse_args()
    if not 1 <= args.accounts <= 2000 or not 1 <= args.idle_accounts <= 90 or not 1 <= args.messages <= 100:
        parser.error("bounded: --accounts 1–2000, --idle-accounts 1–90, --messages 1–100")
    if args.postgres:
        os.environ[ENV_URL] = args.postgres
    with (
        postgres_server() as postgres,
        MailStack(fsync=False) as stack,
        delay_proxy(stack.ports.imaps, args.delay_ms / 1000) as proxy,
        tempfile.TemporaryDirectory(prefix="mb-bench-scale-") as scratch,
    ):
        server = postgres.url
        users = add_mail_users(stack, args.accounts, "bench")
        seed_each(stack, users, args.messages)
        print(f"{args.accounts} accounts × {args.messages} messages on Dovecot, IMAP commands delayed "
              f"{args.delay_ms:.0f} ms (proxy on loopback), PostgreSQL: {postgres.source}")  # fmt: skip
        baseline = None
        for count in args.fetchers:
            folder = Path(scratch) / f"run-{count}"
            folder.mkdir()
            seconds, cpu, chunks = await throughput(server, stack, proxy, users, args.messages, count, folder)
            rate = args.accounts / seconds
            baseline = baseline or rate
            print(
                f"{count} fetcher(s): {seconds:.1f} s, {rate:.1f} accounts/s, "
                f"{rate * args.messages:.0f} msg/s; ratio to one fetcher {rate / baseline:.2f}; "
                f"fetchers' CPU {cpu / args.accounts * 1000:.1f} ms and {chunks / args.accounts:.1f} "
                "delayed client flights per account"
            )
        idle = users[: args.idle_accounts]
        for keep, label in ((args.idle_accounts, "connections kept"), (0, "no connection kept")):
            folder = Path(scratch) / f"idle-{keep}"
            folder.mkdir()
            cpu, seconds, connections = await idle_poll(
                server, stack, proxy, idle, args.messages, keep, args.idle_rounds, folder
            )
            by_cpu, by_rate = SCHEDULE_S / cpu, SCHEDULE_S / seconds
            print(
                f"no-change poll, {label}: fetcher CPU {cpu * 1000:.1f} ms, {connections:.2f} connections, "
                f"{1 / seconds:.0f} polls/s with {WORKERS} workers → one fetcher keeps "
                f"{min(by_cpu, by_rate):,.0f} accounts within {SCHEDULE_S / 60:.0f} minutes "
                f"(by its CPU, one core: {by_cpu:,.0f}; by the measured poll rate: {by_rate:,.0f})"
            )


if __name__ == "__main__":
    asyncio.run(main())
