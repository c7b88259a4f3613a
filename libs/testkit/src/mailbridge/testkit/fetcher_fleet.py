"""Many IMAP accounts and several fetcher replicas as real processes, for the proof of horizontal
scale (#15): the scale test and `bench/scale.py`.

The accounts are Dovecot users of a `MailStack`, each with a few messages written straight into
its Maildir, and one `mail_accounts` row each on a shared mail server row (one transaction for
all). The fetchers are `python -m mailbridge.fetcher` processes, each logging JSON lines into a
file of its own; a finished fetch is its "fetch done" line with the account's id, which is how
the share each replica took is counted. `fetch_queue_durable` declares the fetcher's durable as
`mailbridge setup` does, with the ack wait a test chooses: a killed replica's commands come back
to the others after that ack wait (by default the lease time and a margin,
`common.consumers.fetch_ack_wait_s`), its accounts' leases after the lease time.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mailbridge.common.consumers import FETCH_QUEUE
from mailbridge.common.db.tables import MailAccount, MailServer, User
from mailbridge.common.secrets import SecretBox
from mailbridge.testkit.proc_stats import cpu_seconds
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass(frozen=True)
class ImapAccount:
    account_id: uuid.UUID
    user: MailUser


def add_mail_users(stack: MailStack, count: int, prefix: str = "scale") -> list[MailUser]:
    """`count` new users of the stack (random addresses with `prefix`)."""
    return [stack.add_user(f"{prefix}-{uuid.uuid4().hex[:12]}@{stack.domain}") for _ in range(count)]


async def add_imap_accounts(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, users: Iterable[MailUser], port: int,
    host: str = "127.0.0.1",
) -> list[ImapAccount]:  # fmt: skip
    """One owner, one IMAPS server row at `host:port` and an account per user, in one transaction."""
    async with sessions() as session:
        owner = User(name="Scale", email=f"{uuid.uuid4().hex}@example.com")
        server = MailServer(
            name=f"scale-{uuid.uuid4().hex}", smtp_host="127.0.0.1:25", smtp_encryption="none",
            smtp_auth=False, incoming_protocol="imap", incoming_host=f"{host}:{port}",
            incoming_tls=True, incoming_tls_mode="implicit",
        )  # fmt: skip
        session.add_all([owner, server])
        await session.flush()
        rows = [(user, _account(owner.id, server.id, user, box)) for user in users]
        session.add_all(row for _, row in rows)
        await session.commit()
        return [ImapAccount(row.id, user) for user, row in rows]


def _account(owner_id: uuid.UUID, server_id: uuid.UUID, user: MailUser, box: SecretBox) -> MailAccount:
    return MailAccount(
        owner_user_id=owner_id, server_id=server_id, login=user.address, address=user.address,
        password_encrypted=box.encrypt(user.password),
    )  # fmt: skip


def scale_message(address: str, number: int) -> bytes:
    """A small distinct message (about 1 KB) for one account."""
    filler = ("scale " * 12 + "\r\n") * 12
    return (
        f"From: seed@example.org\r\nTo: {address}\r\nSubject: scale {number}\r\n"
        f"Message-ID: <scale-{number}-{uuid.uuid4().hex}@example.org>\r\n\r\n{filler}"
    ).encode()


def seed_each(
    stack: MailStack, users: Iterable[MailUser], count: int, start: int = 0
) -> dict[str, list[bytes]]:
    """Write `count` new messages into each user's INBOX (Maildir files); returns them by address."""
    seeded = {}
    for user in users:
        messages = [scale_message(user.address, start + number) for number in range(count)]
        stack.seed(user.address, messages)
        seeded[user.address] = messages
    return seeded


async def fetch_queue_durable(js: JetStreamContext, ack_wait_s: float) -> None:
    """The fetcher's durable as `mailbridge setup` declares it (`launcher.setup.durable_config`;
    the testkit imports no service), with `ack_wait_s` as its ack wait."""
    config = FETCH_QUEUE.config(ack_wait_s=ack_wait_s)
    config.name = config.durable_name = FETCH_QUEUE.durable
    config.filter_subject = FETCH_QUEUE.command.subject
    await js.add_consumer(FETCH_QUEUE.stream.name, config=config)


async def wait_for_pullers(js: JetStreamContext, count: int, deadline_s: float = 120.0) -> None:
    """Until `count` replicas wait on the fetch durable (each keeps a pull request open), so a
    burst of commands finds all of them."""
    deadline = time.monotonic() + deadline_s
    while (await js.consumer_info(FETCH_QUEUE.stream.name, FETCH_QUEUE.durable)).num_waiting < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} fetchers pulling after {deadline_s} s")
        await asyncio.sleep(0.1)


def fetcher_env(
    database_url: str, nats_url: str, secret_key: str, ca_file: Path, var_dir: Path,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:  # fmt: skip
    """The process environment of a fetcher: this machine's, without any MAILBRIDGE_ setting of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MAILBRIDGE_")} | {
        "MAILBRIDGE_DATABASE_URL": database_url, "MAILBRIDGE_NATS_URL": nats_url,
        "MAILBRIDGE_SECRET_KEY": secret_key, "MAILBRIDGE_EXTRA_CA_FILE": str(ca_file),
        "MAILBRIDGE_VAR_DIR": str(var_dir), "MAILBRIDGE_LOG_LEVEL": "INFO", "MAILBRIDGE_LOG_FORMAT": "json",
        # no IMAP IDLE push (#18) unless `settings` ask for it: hundreds of accounts in IDLE would
        # take the harness Dovecot's sessions from the fetches a scale run measures
        "MAILBRIDGE_IMAP_IDLE_MAX": "0",
    } | dict(settings or {})  # fmt: skip


class FetcherFleet:
    """Fetcher replicas as real processes; `done()` reads who finished which fetch from their logs."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env, self.log_dir = dict(env), log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._read: dict[int, int] = {}
        self._done: list[tuple[int, uuid.UUID]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            log = (self.log_dir / f"fetcher-{len(self.processes)}.log").open("wb")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "mailbridge.fetcher"], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            ))  # fmt: skip
            log.close()

    def holder(self, index: int) -> str:
        """The lease holder name the replica writes into fetch_leases (`host:pid`)."""
        return f"{socket.gethostname()}:{self.processes[index].pid}"

    def kill(self, index: int) -> None:
        """SIGKILL: no drain, no release of leases, no ack of the commands in hand."""
        process = self.processes[index]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def alive(self) -> list[int]:
        return [index for index, process in enumerate(self.processes) if process.poll() is None]

    def cpu_seconds(self) -> float:
        """User + system CPU of the running replicas so far."""
        return sum(cpu_seconds(self.processes[index].pid) for index in self.alive())

    def done(self) -> list[tuple[int, uuid.UUID]]:
        """(replica, account) of every finished fetch (its "fetch done" line), per replica in log
        order; each log is read on from where the last call stopped, whole lines only."""
        for index in range(len(self.processes)):
            with (self.log_dir / f"fetcher-{index}.log").open("rb") as log:
                log.seek(self._read.get(index, 0))
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._read[index] = self._read.get(index, 0) + len(complete)
            for line in complete.splitlines():
                if b'"fetch done"' in line:
                    self._done.append((index, uuid.UUID(json.loads(line)["account_id"])))
        return list(self._done)

    def done_count(self) -> int:
        return len(self.done())

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
