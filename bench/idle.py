"""IMAP IDLE push benchmark (#18): how soon a delivered message is fetched, and what a thousand
idle connections cost the fetcher.

Latency: one fetcher process (`python -m mailbridge.fetcher`, default settings but the ones
named below) holds the IDLE connection of `--latency-accounts` accounts on the harness's Dovecot
(implicit TLS, loopback). `--deliveries` messages, one after another and round robin over the
accounts, are sent to Postfix's SMTP port, which hands them to Dovecot over LMTP; each one's time
runs from the end of its SMTP transaction (Postfix has it) to its MailFetched on NATS (a core
subscription). No scheduler runs: every fetch is a push's. Printed: median, p90, p99 and max.
What a figure holds: Postfix → LMTP → Dovecot's IDLE notice, the holder's settling of a burst
(`imap_idle.SETTLE_S`), JetStream, the fetch (lease, SELECT, FETCH, store, outbox) and the relay.

Cost: a fetcher with `--connections` accounts in IDLE (Dovecot's limits raised in this bench's own
Dovecot config: one login process per 2,000 TLS clients, up to 2,500 imap processes), measured
for `--measure-s` seconds once all of them idle: the fetcher's CPU (user + system, per cent of
one core, including the IDLE lease renewals), and its resident memory minus that of the same
fetcher with push off (`MAILBRIDGE_IMAP_IDLE_MAX=0`) and the same accounts; both per 1,000
connections.

Bounded: at most 3,000 connections and 1,000 deliveries; every wait has a deadline. Run by hand:
`.venv/bin/python bench/idle.py` (bench/README.md).
"""

import argparse
import asyncio
import json
import os
import smtplib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.events import MailFetched
from mailbridge.common.messaging import create_broker
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.streams import ensure_streams
from mailbridge.testkit.databases import ENV_URL, fresh_postgres_database, postgres_server
from mailbridge.testkit.fetcher_fleet import (
    FetcherFleet,
    ImapAccount,
    add_imap_accounts,
    add_mail_users,
    fetch_queue_durable,
    fetcher_env,
    wait_for_pullers,
)
from mailbridge.testkit.proc_stats import cpu_seconds
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from nats.aio.msg import Msg
from sqlalchemy.engine import URL

DEADLINE_S = 900.0
DOVECOT_LIMITS = """\
default_client_limit = 5000
service imap-login {
  service_count = 0
  client_limit = 2000
  process_min_avail = 2
  process_limit = 8
  vsz_limit = 1G
}
service imap {
  process_limit = 2500
}
service anvil {
  client_limit = 5000
}
service auth {
  client_limit = 5000
}
"""


class Rig:
    """A fresh database and NATS, the accounts, one fetcher process; MailFetched events collected."""

    def __init__(self, fleet: FetcherFleet, accounts: list[ImapAccount]) -> None:
        self.fleet, self.accounts = fleet, accounts
        self.fetched: dict[str, float] = {}  # subject line → when its MailFetched arrived

    async def on_fetched(self, message: Msg) -> None:
        event = MailFetched.model_validate_json(message.data)
        if event.subject_line is not None:
            self.fetched.setdefault(event.subject_line, time.perf_counter())

    def idling(self) -> int:
        """Accounts whose IDLE began ("IDLE on INBOX" lines) in the fetcher's log."""
        log = self.fleet.log_dir / "fetcher-0.log"
        return len(
            {json.loads(line)["account_id"] for line in log.read_bytes().splitlines() if b'"IDLE on' in line}
        )

    async def wait_idling(self, count: int) -> float:
        started = time.monotonic()
        while self.idling() < count:
            if time.monotonic() - started > DEADLINE_S:
                raise TimeoutError(f"{self.idling()} of {count} accounts in IDLE after {DEADLINE_S} s")
            await asyncio.sleep(0.5)
        return time.monotonic() - started


@asynccontextmanager
async def rig(
    server: URL, stack: MailStack, users: list[MailUser], folder: Path, settings: dict[str, str]
) -> AsyncIterator[Rig]:
    key = generate_key()
    async with fresh_postgres_database(server) as url:
        await upgrade_async(url)
        nats = start_embedded_nats(folder / "nats")
        engine = create_engine(url)
        broker = create_broker(nats.url, "bench-idle")
        try:
            accounts = await add_imap_accounts(
                create_session_factory(engine), SecretBox([key]), users, stack.ports.imaps
            )
            await broker.connect()
            js = broker.connection.jetstream()
            await ensure_streams(js)
            await fetch_queue_durable(js, 120.0)
            fleet = FetcherFleet(fetcher_env(url, nats.url, key, stack.ca_file, folder, settings), folder)
            running = Rig(fleet, accounts)
            await broker.connection.subscribe(MailFetched.subject, cb=running.on_fetched)
            fleet.start(1)
            try:
                await wait_for_pullers(js, 1)
                yield running
            finally:
                fleet.stop_all()
        finally:
            await broker.stop()
            await engine.dispose()
            nats.stop()


def deliver(stack: MailStack, user: MailUser, subject: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bench@example.org", user.address, subject
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@example.org>"
    mail.set_content("IDLE push benchmark\r\n")
    with smtplib.SMTP(stack.host, stack.ports.smtp) as smtp:
        smtp.send_message(mail)


async def latency(server: URL, stack: MailStack, accounts: int, deliveries: int, folder: Path) -> list[float]:
    """Seconds from each delivery's end of SMTP to its MailFetched."""
    users = add_mail_users(stack, accounts, "idle-latency")
    seconds: list[float] = []
    async with rig(server, stack, users, folder, {"MAILBRIDGE_IMAP_IDLE_MAX": "100"}) as running:
        await running.wait_idling(accounts)
        for number in range(deliveries):
            subject = f"latency {number} {uuid.uuid4().hex[:8]}"
            await asyncio.to_thread(deliver, stack, users[number % accounts], subject)
            sent = time.perf_counter()
            deadline = time.monotonic() + 120
            while subject not in running.fetched:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"delivery {number} not fetched within 120 s")
                await asyncio.sleep(0.002)
            seconds.append(running.fetched[subject] - sent)
    return seconds


async def cost(
    server: URL, stack: MailStack, users: list[MailUser], measure_s: float, folder: Path, push: bool
) -> tuple[float, float, float]:
    """(RSS in MB, CPU seconds per second over `measure_s`, seconds until all idled) of one fetcher."""
    settings = {
        "MAILBRIDGE_IMAP_IDLE_MAX": str(len(users) if push else 0),
        "MAILBRIDGE_IMAP_KEEP_CONNECTIONS": "0",
    }
    async with rig(server, stack, users, folder, settings) as running:
        ramp = await running.wait_idling(len(users)) if push else 0.0
        await asyncio.sleep(min(10.0, measure_s))  # settle: the last logins' garbage, a renewal round
        pid = running.fleet.processes[0].pid
        cpu, started = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(measure_s)
        used = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
        return rss_mb(pid), used, ramp


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=200)
    parser.add_argument("--latency-accounts", type=int, default=5)
    parser.add_argument("--connections", type=int, default=1000, help="accounts in IDLE for the cost")
    parser.add_argument("--measure-s", type=float, default=60.0, help="CPU observed for this long")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--postgres", help=f"a PostgreSQL URL; default {ENV_URL}, else a private cluster")
    args = parser.parse_args()
    if (
        not 1 <= args.deliveries <= 1000
        or not 1 <= args.connections <= 3000
        or not 1 <= args.latency_accounts <= 50
    ):
        parser.error("bounded: --deliveries 1–1000, --connections 1–3000, --latency-accounts 1–50")
    if args.postgres:
        os.environ[ENV_URL] = args.postgres
    stack = MailStack(fsync=False)
    stack.dovecot.options = replace(stack.dovecot.options, extra_config=DOVECOT_LIMITS)
    with (
        postgres_server() as postgres,
        stack,
        tempfile.TemporaryDirectory(prefix="mb-bench-idle-") as scratch,
    ):
        print(f"Dovecot and Postfix on loopback (IMAPS), PostgreSQL: {postgres.source}")
        folder = Path(scratch) / "latency"
        folder.mkdir()
        seconds = await latency(postgres.url, stack, args.latency_accounts, args.deliveries, folder)
        ms = [s * 1000 for s in seconds]
        print(
            f"delivery → MailFetched over {len(ms)} deliveries ({args.latency_accounts} accounts in IDLE): "
            f"median {statistics.median(ms):.0f} ms, p90 {percentile(ms, 0.9):.0f} ms, "
            f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms"
        )
        if args.skip_cost:
            return
        users = add_mail_users(stack, args.connections, "idle-cost")
        runs = {}
        for push in (False, True):
            folder = Path(scratch) / f"cost-{push}"
            folder.mkdir()
            runs[push] = await cost(postgres.url, stack, users, args.measure_s, folder, push)
        (base_rss, base_cpu, _), (rss, cpu, ramp) = runs[False], runs[True]
        per_thousand = 1000 / args.connections
        print(
            f"{args.connections} IDLE connections (all in IDLE {ramp:.0f} s after the start): fetcher RSS "
            f"{rss:.0f} MB against {base_rss:.0f} MB with push off → {(rss - base_rss) * per_thousand:.1f} MB "
            f"per 1,000; CPU {cpu * 100:.2f} % of a core against {base_cpu * 100:.2f} % → "
            f"{(cpu - base_cpu) * 100 * per_thousand:.2f} % per 1,000 (over {args.measure_s:.0f} s, "
            "lease renewals included)"
        )


if __name__ == "__main__":
    asyncio.run(main())
