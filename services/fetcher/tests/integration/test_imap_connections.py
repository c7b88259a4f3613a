"""Kept IMAP connections: reused for the next fetch of the same account, logged in afresh after a
password or configuration change, dropped when the server closed them or they idled too long."""

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import cast

import pytest
from fetcher_testing import FetchWorld, message
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.events import FetchReason
from mailbridge.fetcher.adapters.imap_connections import ImapConnections
from mailbridge.fetcher.fetch_account import FetchDeps, Outcome, Result, fetch_account
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def keeping(world: FetchWorld, clock: Clock) -> AsyncIterator[FetchDeps]:
    connections = ImapConnections(keep=4, idle_s=300.0, clock=clock)
    yield dataclasses.replace(world.deps, connections=connections)
    await connections.close_all()


async def fetch(deps: FetchDeps, account: uuid.UUID) -> Result:
    async def no_heartbeat() -> None:
        return None

    return await fetch_account(deps, account, FetchReason.MANUAL, no_heartbeat)


async def logins(stack: MailStack, user: MailUser, expected: int) -> int:
    """Logins of `user` in Dovecot's log (written a moment after the login)."""
    found = 0
    for _ in range(40):
        log = stack.dovecot_log.read_text().splitlines()
        found = sum(f"Login: user=<{user.address}>" in line for line in log)
        if found >= expected:
            break
        await asyncio.sleep(0.05)
    return found


async def set_password(world: FetchWorld, account: uuid.UUID, password: str) -> None:
    async with world.sessions() as session:
        row = await session.get(MailAccount, account)
        assert row is not None
        row.password_encrypted = world.secrets.encrypt(password)
        await session.commit()


async def test_the_next_fetch_reuses_the_logged_in_connection(
    world: FetchWorld, keeping: FetchDeps, mail_user: MailUser
) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(3)])
    account = await world.account(mail_user)
    assert (await fetch(keeping, account)).counts is not None
    world.stack.seed(mail_user.address, [message(3, mail_user.address)])
    again = await fetch(keeping, account)
    assert again.counts is not None
    assert again.counts.new == 1, "the kept connection sees the new message"
    assert (await fetch(keeping, account)).outcome is Outcome.DONE
    assert await logins(world.stack, mail_user, 2) == 1


async def test_a_password_change_logs_in_afresh(
    world: FetchWorld, keeping: FetchDeps, mail_user: MailUser
) -> None:
    account = await world.account(mail_user)
    assert (await fetch(keeping, account)).outcome is Outcome.DONE
    world.stack.add_user(mail_user.address, "a-new-password")
    await asyncio.sleep(1.1)  # Dovecot notices a changed passwd-file by its mtime, in whole seconds
    await set_password(world, account, "a-new-password")
    assert (await fetch(keeping, account)).reason is None
    assert await logins(world.stack, mail_user, 2) == 2
    await set_password(world, account, "wrong")
    wrong = await fetch(keeping, account)
    assert wrong.reason is not None
    assert "rejected" in wrong.reason, "a wrong password is never hidden behind a kept connection"


async def test_a_connection_the_server_closed_is_replaced(
    world: FetchWorld, keeping: FetchDeps, mail_user: MailUser
) -> None:
    account = await world.account(mail_user)
    assert (await fetch(keeping, account)).outcome is Outcome.DONE
    world.stack.dovecot.doveadm("kick", mail_user.address)
    await asyncio.sleep(0.2)
    world.stack.seed(mail_user.address, [message(1, mail_user.address)])
    result = await fetch(keeping, account)
    assert (result.outcome, result.reason) == (Outcome.DONE, None)
    assert result.counts is not None
    assert result.counts.new == 1
    assert await logins(world.stack, mail_user, 2) == 2


async def test_idle_connections_are_closed(
    world: FetchWorld, keeping: FetchDeps, clock: Clock, mail_user: MailUser
) -> None:
    account = await world.account(mail_user)
    assert (await fetch(keeping, account)).outcome is Outcome.DONE
    clock.now += 301
    await cast(ImapConnections, keeping.connections).close_idle()
    assert (await fetch(keeping, account)).outcome is Outcome.DONE
    assert await logins(world.stack, mail_user, 2) == 2


async def test_at_most_per_server_connections_are_kept_to_one_server(
    world: FetchWorld, clock: Clock, mail_stack: MailStack
) -> None:
    """#15: a server bounds its sessions (Dovecot: 100 by default), so the pool keeps at most
    `per_server` connections to one host and port, the longest idle going first, whatever `keep`."""
    connections = ImapConnections(keep=10, idle_s=300.0, clock=clock, per_server=2)
    deps = dataclasses.replace(world.deps, connections=connections)
    users = [mail_stack.add_user() for _ in range(3)]
    accounts = [await world.account(user) for user in users]
    try:
        for account in accounts:  # the first is the longest idle when the third is kept
            clock.now += 1
            assert (await fetch(deps, account)).outcome is Outcome.DONE
        for account in reversed(accounts):  # the two kept ones first, then the first again
            assert (await fetch(deps, account)).outcome is Outcome.DONE
    finally:
        await connections.close_all()
    first, second, third = users
    assert await logins(world.stack, first, 2) == 2, "closed when the third was kept: logged in again"
    assert await logins(world.stack, second, 2) == 1, "kept"
    assert await logins(world.stack, third, 2) == 1, "kept"
