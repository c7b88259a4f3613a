"""Fetch benchmark: our fetcher end to end vs a raw IMAP pull and mbsync on the same Dovecot.

Seeds a realistic mix (mostly 5–50 KB, about 1 % of 1–5 MB), then measures, in one run:
- raw pull: BODY.PEEK[] over one imaplib connection, bytes discarded (the server's ceiling);
- mbsync (isync) into a Maildir, when installed;
- the fetcher as a real process: FetchRequested published → all messages stored and all
  MailFetched events published, on SQLite and (with --postgres) on PostgreSQL, and the
  fetcher's CPU time per message for it;
- a no-change re-poll: wall time and the fetcher's CPU time for it; the fetcher's peak RSS.

`--message-mb 50` seeds messages of that size instead of the mix (say `--messages 20`): the
fetcher's peak RSS then shows what its byte budget (MAILBRIDGE_FETCH_BYTES_IN_FLIGHT) holds.
"""

import argparse
import asyncio
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import FetchState, OutboxEvent, StoredMessage
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.tables import MailAccount, MailServer, User
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.messaging import create_broker, publish
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.streams import ensure_streams
from mailbridge.testkit.databases import fresh_postgres_database
from mailbridge.testkit.proc_stats import cpu_seconds, peak_rss_mb
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from sqlalchemy import func, select
from sqlalchemy.engine import make_url


def corpus(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    messages = []
    for index in range(count):
        size = rng.randint(1_000_000, 5_000_000) if rng.random() < 0.01 else rng.randint(5_000, 50_000)
        head = f"From: bench{index}@example.org\r\nTo: user@example.org\r\nSubject: Bench {index}\r\n"
        head += f"Message-ID: <bench{index}@example.org>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n"
        line = ("".join(rng.choice("abcdefghij klmnop") for _ in range(76)) + "\r\n").encode()
        messages.append(head.encode() + line * max(1, (size - len(head)) // len(line)))
    return messages


def large_corpus(count: int, megabytes: int) -> list[bytes]:
    """`count` messages of `megabytes` MB each (text lines, as an attachment would be)."""
    line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\r\n"
    body = line * (megabytes * 1_000_000 // len(line))
    return [
        f"From: bench{index}@example.org\r\nTo: user@example.org\r\nSubject: Large {index}\r\n"
        f"Message-ID: <large{index}@example.org>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\n".encode()
        + body
        for index in range(count)
    ]


def raw_pull(stack: MailStack, user: MailUser, per_command: int = 100) -> float:
    started = time.perf_counter()
    with stack.imap(user) as imap:
        imap.select("INBOX", readonly=True)
        _, data = imap.uid("SEARCH", "ALL")
        uids = data[0].split()
        for start in range(0, len(uids), per_command):
            chunk = b",".join(uids[start : start + per_command]).decode()
            imap.uid("FETCH", chunk, "(BODY.PEEK[])")
    return time.perf_counter() - started


def mbsync(stack: MailStack, user: MailUser, folder: Path) -> tuple[float, float] | None:
    """mbsync's wall time and its own CPU time (Dovecot's is not counted)."""
    if shutil.which("mbsync") is None:
        return None
    config = folder / "mbsyncrc"
    (folder / "maildir").mkdir()
    config.write_text(
        f"IMAPAccount bench\nHost localhost\nPort {stack.ports.imaps}\nUser {user.address}\n"
        f"Pass {user.password}\nSSLType IMAPS\nCertificateFile {stack.ca_file}\n\n"
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {folder}/maildir/\nInbox {folder}/maildir/INBOX\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSyncState *\n"
    )
    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    subprocess.run(["mbsync", "-c", str(config), "-q", "bench"], check=True)
    return time.perf_counter() - started, children_cpu_seconds() - cpu_before


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def fetcher_run(
    stack: MailStack, user: MailUser, database_url: str, count: int, folder: Path
) -> dict[str, float]:
    await upgrade_async(database_url)
    key = generate_key()
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    async with sessions() as session:
        owner = User(name="Bench", email=f"{uuid.uuid4().hex}@example.com")
        server = MailServer(
            name=f"bench-{uuid.uuid4().hex}", smtp_host="127.0.0.1:25", smtp_encryption="none",
            incoming_protocol="imap", incoming_host=f"127.0.0.1:{stack.ports.imaps}", incoming_tls=True,
            incoming_tls_mode="implicit",
        )  # fmt: skip
        session.add_all([owner, server])
        await session.flush()
        account = MailAccount(
            owner_user_id=owner.id, server_id=server.id, login=user.address, address=user.address,
            password_encrypted=SecretBox([key]).encrypt(user.password),
        )  # fmt: skip
        session.add(account)
        await session.commit()
        account_id = account.id
    nats = start_embedded_nats(folder / f"nats-{uuid.uuid4().hex}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")} | {
        "MAILBRIDGE_DATABASE_URL": database_url, "MAILBRIDGE_NATS_URL": nats.url,
        "MAILBRIDGE_SECRET_KEY": key,
        "MAILBRIDGE_EXTRA_CA_FILE": str(stack.ca_file), "MAILBRIDGE_VAR_DIR": str(folder),
        "MAILBRIDGE_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbridge.fetcher"], env=env, stdin=subprocess.DEVNULL
    )
    broker = create_broker(nats.url, "bench")
    await broker.connect()
    await ensure_streams(broker.connection.jetstream())
    await asyncio.sleep(2)  # the fetcher's consumer is up

    async def counts() -> tuple[int, int, object]:
        async with sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(StoredMessage))
            unpublished = await session.scalar(select(func.count()).select_from(OutboxEvent))
            state = await session.get(FetchState, account_id)
            return int(stored or 0), int(unpublished or 0), state.last_finished_at if state else None

    try:
        cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
        await publish(broker, FetchRequested(account_id=account_id, reason=FetchReason.MANUAL), 5)
        while True:
            stored, unpublished, _ = await counts()
            if stored >= count and unpublished == 0:
                break
            await asyncio.sleep(0.05)
        initial, initial_cpu = time.perf_counter() - started, cpu_seconds(process.pid) - cpu_before
        # No-change re-polls: CPU is read in clock ticks (10 ms), so average over 100 polls.
        polls, cpu_before, started = 100, cpu_seconds(process.pid), time.perf_counter()
        for _ in range(polls):
            _, _, finished = await counts()
            await publish(broker, FetchRequested(account_id=account_id, reason=FetchReason.MANUAL), 5)
            while (await counts())[2] == finished:
                await asyncio.sleep(0.002)
        repoll = (time.perf_counter() - started) / polls
        repoll_cpu = (cpu_seconds(process.pid) - cpu_before) / polls
        rss = peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(30)
        await broker.stop()
        nats.stop()
        await engine.dispose()
    return {
        "initial_s": initial,
        "initial_cpu_s": initial_cpu,
        "repoll_s": repoll,
        "repoll_cpu_s": repoll_cpu,
        "peak_rss_mb": rss,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--postgres", help="a PostgreSQL URL (postgresql+asyncpg://…); each run uses a fresh database there"
    )
    parser.add_argument("--message-mb", type=int, help="messages of this many MB instead of the usual mix")
    args = parser.parse_args()
    messages = large_corpus(args.messages, args.message_mb) if args.message_mb else corpus(args.messages)
    per_command = max(1, 100 // args.message_mb) if args.message_mb else 100  # about 100 MB at most
    megabytes = sum(map(len, messages)) / 1e6
    with MailStack(fsync=False) as stack, tempfile.TemporaryDirectory(prefix="mb-bench-") as scratch:
        user = stack.add_user()
        started = time.perf_counter()
        stack.seed(user.address, messages)
        print(f"seeded {len(messages)} messages, {megabytes:.0f} MB in {time.perf_counter() - started:.1f} s "
              "(Dovecot mail_fsync=never)")  # fmt: skip
        raw = raw_pull(stack, user, per_command)
        print(
            f"raw IMAP pull (baseline, ceiling): {raw:.2f} s, "
            f"{len(messages) / raw:.0f} msg/s, {megabytes / raw:.0f} MB/s"
        )
        measured = mbsync(stack, user, Path(scratch))
        peer = measured[0] if measured else None
        if measured is None:
            print("mbsync: not installed (apt-get install isync)")
        else:
            print(f"mbsync into Maildir: {measured[0]:.2f} s, {len(messages) / measured[0]:.0f} msg/s; "
                  f"mbsync CPU {measured[1] / len(messages) * 1000:.2f} ms/msg")  # fmt: skip
        targets: dict[str, str | None] = {"sqlite": None}
        if args.postgres:
            targets["postgresql"] = args.postgres
        for name, server in targets.items():
            if server is None:
                url = f"sqlite+aiosqlite:///{scratch}/bench.db"
                result = await fetcher_run(stack, user, url, len(messages), Path(scratch))
            else:  # counts are read over the whole database: it must hold this run only
                async with fresh_postgres_database(make_url(server)) as url:
                    result = await fetcher_run(stack, user, url, len(messages), Path(scratch))
            initial = result["initial_s"]
            print(
                f"fetcher on {name}: initial sync {initial:.2f} s, {len(messages) / initial:.0f} msg/s, "
                f"{megabytes / initial:.0f} MB/s; ratio to raw pull {initial / raw:.2f}"
                + (f", to mbsync {initial / peer:.2f}" if peer else "")
                + f"; fetcher CPU {result['initial_cpu_s'] / len(messages) * 1000:.2f} ms/msg"
                + f"; no-change re-poll {result['repoll_s'] * 1000:.1f} ms wall, "
                f"{result['repoll_cpu_s'] * 1000:.1f} ms fetcher CPU; peak RSS {result['peak_rss_mb']:.0f} MB"
            )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
