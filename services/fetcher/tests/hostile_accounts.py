"""Accounts on a hostile server (plain IMAP on loopback), the fetch state they end in, and the
fetcher process's resident memory, for the hostile-server tests."""

import os
import uuid
from dataclasses import replace
from pathlib import Path

from fetcher_testing import FetchWorld
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.tables import MailAccount, MailServer, User
from mailbridge.fetcher.fetch_account import FetchDeps
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.proc_stats import peak_rss_mb, reset_peak_rss

STEP_TIMEOUT_S = 1.0  # tests lower MAILBRIDGE_FETCH_TIMEOUT_S; the bounds below scale with it


def fast(world: FetchWorld, timeout_s: float = STEP_TIMEOUT_S) -> FetchDeps:
    return replace(world.deps, timeout_s=timeout_s)


async def hostile_account(
    world: FetchWorld,
    server: HostileServer,
    login: str = "user@example.org",
    password: str = "pw",  # noqa: S107
) -> uuid.UUID:
    async with world.sessions() as session:
        owner = User(name="Owner", email=f"{uuid.uuid4().hex}@example.com")
        mail_server = MailServer(
            name=f"hostile-{uuid.uuid4().hex}", smtp_host="127.0.0.1:25", smtp_encryption="none",
            incoming_protocol="imap", incoming_host=f"{server.host}:{server.port}", incoming_tls=False,
        )  # fmt: skip
        session.add_all([owner, mail_server])
        await session.flush()
        account = MailAccount(
            owner_user_id=owner.id, server_id=mail_server.id, login=login, address="user@example.org",
            password_encrypted=world.secrets.encrypt(password),
        )  # fmt: skip
        session.add(account)
        await session.commit()
        return account.id


async def fetch_state(world: FetchWorld, account: uuid.UUID) -> FetchState | None:
    async with world.sessions() as session:
        return await session.get(FetchState, account)


def rss_mb() -> float:
    """This process's resident memory now (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """This process's peak resident memory since `reset_peak`."""
    return peak_rss_mb(os.getpid())


def reset_peak() -> None:
    reset_peak_rss(os.getpid())
