"""Send benchmark: the sender end to end into Postfix's smtp-sink vs smtp-source into the same sink.

Queues N mails of about 20 KB (outbox rows + SendRequested) and measures until every row is
`sent`, with 1 and with 4 sender processes, and each run's peak RSS; the baseline is Postfix's smtp-source with one
session into the same sink, in the same run, and beside it a bare aiosmtplib loop (the client
library's own ceiling, with no database, queue or MIME). Everything on loopback. `--large N`
instead sends N mails with a 50 MB attachment each through one sender and prints its peak RSS.

`--delay-ms 30` puts `testkit.delay_proxy` between every client and the sink: each chunk a client
sends (an SMTP command, DATA) reaches the sink 30 ms later, so each reply comes a round trip later,
as from a remote provider; the baseline (smtp-source) goes through the same proxy. There the
figure is how sender processes (1 2 4) scale against the latency, not CPU per mail.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path

from aiosmtplib import SMTP
from faststream.nats import NatsBroker
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.events import SendRequested
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.seal_keys import generate_seal_key
from mailbridge.common.secrets import generate_key
from mailbridge.common.streams import SEND, ensure_streams
from mailbridge.sender.subscribers import POOLS
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.databases import fresh_postgres_database
from mailbridge.testkit.delay_proxy import delay_proxy
from mailbridge.testkit.proc_stats import cpu_seconds, peak_rss_mb
from mailbridge.testkit.smtp_sink import smtp_sink
from nats.js.errors import NotFoundError
from sqlalchemy import func, make_url, select

BODY = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6 + "\n") * 55  # ~20 KB


def smtp_source(port: int, count: int, sessions: int) -> float:
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    started = time.perf_counter()
    subprocess.run(
        [binary, "-s", str(sessions), "-m", str(count), "-l", str(len(BODY)), f"127.0.0.1:{port}"], check=True
    )
    return time.perf_counter() - started


async def aiosmtplib_loop(port: int, count: int, connections: int) -> float:
    """The client library's own ceiling: the same bytes over `connections` connections, nothing else."""
    raw = f"From: a@example.org\r\nTo: sink@example.org\r\nSubject: x\r\n\r\n{BODY}".replace(
        "\n", "\r\n"
    ).encode()

    async def one(mails: int) -> None:
        client = SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        for _ in range(mails):
            await client.sendmail("a@example.org", ["sink@example.org"], raw)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(one(count // connections) for _ in range(connections)))
    return time.perf_counter() - started


async def senders_ready(broker: NatsBroker, processes: int, timeout_s: float = 120.0) -> None:
    """Until every sender process has a pull request waiting on the consumer (it has started up)."""
    js = broker.connection.jetstream()
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                if (await js.consumer_info(SEND.name, POOLS["default"].durable)).num_waiting >= processes:
                    return
            except NotFoundError:  # no sender has created the consumer yet
                pass
            await asyncio.sleep(0.1)


async def sender_run(
    database_url: str, sink_port: int, count: int, processes: int, folder: Path, settings: dict[str, str],
    attachment_mb: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Seconds until every mail is sent, and the largest peak RSS (MB) of the sender processes."""
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    account = await add_account(sessions, smtp_host=f"127.0.0.1:{sink_port}")
    ids = []
    for i in range(count):  # one transaction per mail: a batch of large ones would be held at once
        async with sessions() as session:
            row = OutboxMessage(
                account_id=account.account_id,
                request={"to": ["sink@example.org"], "subject": f"m{i}", "text": BODY},
            )
            session.add(row)
            if attachment_mb:
                await session.flush()
                data = os.urandom(attachment_mb * 1024 * 1024)
                session.add(OutboxAttachment(outbox_id=row.id, filename="big.bin", content_type="application/x",
                                             data=data))  # fmt: skip
            await session.commit()
            ids.append(row.id)
    nats = start_embedded_nats(folder / f"nats-{uuid.uuid4().hex}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")} | {
        "MAILBRIDGE_DATABASE_URL": database_url, "MAILBRIDGE_NATS_URL": nats.url,
        "MAILBRIDGE_SECRET_KEY": generate_key(), "MAILBRIDGE_VAR_DIR": str(folder), "MAILBRIDGE_LOG_LEVEL": "WARNING",
        "MAILBRIDGE_SEAL_KEY": generate_seal_key(),
    } | settings  # fmt: skip
    broker = create_broker(nats.url, "bench")
    await broker.connect()
    await ensure_streams(broker.connection.jetstream())
    children = [
        subprocess.Popen([sys.executable, "-m", "mailbridge.sender"], env=env, stdin=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    try:
        await senders_ready(broker, processes)
        pids = [child.pid for child in children]
        started, cpu = time.perf_counter(), sum(map(cpu_seconds, pids))
        for start in range(0, count, 500):
            await asyncio.gather(*(
                publish(broker, SendRequested(outbox_id=i), 10, msg_id=str(i)) for i in ids[start : start + 500]
            ))  # fmt: skip
        print(
            f"  {processes} process(es): {count} SendRequested published in {time.perf_counter() - started:.2f} s"
        )
        while True:
            async with sessions() as session:
                done = await session.scalar(
                    select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
                )
            if (done or 0) >= count:
                elapsed, used = time.perf_counter() - started, sum(map(cpu_seconds, pids)) - cpu
                print(f"  {processes} process(es): sender CPU {used / count * 1e6:.0f} µs a mail")
                return elapsed, max(map(peak_rss_mb, pids))
            await asyncio.sleep(0.25)  # a count scans the table: do not let the poll cost the run
    finally:
        for child in children:
            child.terminate()
            child.wait(30)
        await broker.stop()
        nats.stop()
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument(
        "--postgres", help="a PostgreSQL URL (postgresql+asyncpg://…); each run uses a fresh database there"
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4], help="sender runs (default: 1 4)")
    parser.add_argument(
        "--delay-ms", type=float, default=0.0,
        help="hold every client chunk this long before the sink sees it (e.g. 30: a remote provider)",
    )  # fmt: skip
    parser.add_argument(
        "--setting", action="append", default=[], metavar="NAME=VALUE",
        help="a sender setting for the run, e.g. MAILBRIDGE_SEND_WORKERS=128 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--large", type=int, choices=range(1, 21), metavar="N",
        help="instead: N mails (1-20) each with a 50 MB attachment, one sender; prints its peak RSS",
    )  # fmt: skip
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.setting)
    if args.large:
        await large_mails(args.large, args.postgres, settings)
        return
    with (
        smtp_sink() as sink,
        tempfile.TemporaryDirectory(prefix="mb-send-") as scratch,
        ExitStack() as top,
    ):
        port = sink.port
        if args.delay_ms:
            port = top.enter_context(delay_proxy(sink.port, args.delay_ms / 1000)).port
            print(f"every client chunk held {args.delay_ms:g} ms before the sink (testkit.delay_proxy)")
        baseline = smtp_source(port, args.mails, 1)
        base_rate = args.mails / baseline
        print(f"smtp-source, 1 session (baseline): {baseline:.2f} s, {base_rate:.0f} mails/s")
        for connections in (1, 10):
            elapsed = await aiosmtplib_loop(port, args.mails, connections)
            print(f"bare aiosmtplib loop, {connections} connection(s): {elapsed:.2f} s, "
                  f"{args.mails / elapsed:.0f} mails/s; {args.mails / elapsed / base_rate:.2f} of smtp-source")  # fmt: skip
        one = None
        for processes in args.processes:
            async with AsyncExitStack() as stack:
                if args.postgres:  # a fresh database each run: no dead rows of earlier runs to wade through
                    url = await stack.enter_async_context(fresh_postgres_database(make_url(args.postgres)))
                else:
                    url = f"sqlite+aiosqlite:///{scratch}/send-{processes}.db"
                elapsed, peak = await sender_run(url, port, args.mails, processes, Path(scratch), settings)
            rate = args.mails / elapsed
            one = one or rate
            print(f"sender, {processes} process(es): {elapsed:.2f} s, {rate:.0f} mails/s; "
                  f"{rate / base_rate:.2f} of smtp-source; {rate / one:.2f}× one process; peak RSS {peak:.0f} MB")  # fmt: skip


async def large_mails(count: int, postgres: str | None, settings: dict[str, str]) -> None:
    """#10 item 3: mails with 50 MB attachments through one sender, bounded by its byte budget."""
    with smtp_sink() as sink, tempfile.TemporaryDirectory(prefix="mb-send-") as scratch:
        async with AsyncExitStack() as stack:
            if postgres:
                url = await stack.enter_async_context(fresh_postgres_database(make_url(postgres)))
            else:
                url = f"sqlite+aiosqlite:///{scratch}/send-large.db"
            elapsed, peak = await sender_run(
                url, sink.port, count, 1, Path(scratch), settings, attachment_mb=50
            )
        print(
            f"sender, {count} mails of 50 MB: {elapsed:.2f} s, peak RSS {peak:.0f} MB ({settings or 'defaults'})"
        )


if __name__ == "__main__":
    asyncio.run(main())
