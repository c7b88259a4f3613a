"""#18 IMAP IDLE push, one replica's holder against the harness's Dovecot and the store on SQLite
and PostgreSQL: which accounts may be pushed (`push: false` and POP3 are not), the IDLE lease
(one holder per account, taken over once expired), new mail announced within seconds as a push
fetch, at most `max_connections` per replica (the rest stay polled, and another replica takes
them), IDLE re-issued and a dropped connection reopened, and a server without IDLE left to the
schedule. Waiting has generous bounds and no timed assertion (speed is bench/idle.py's)."""

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from fetcher_testing import FetchWorld, NoBroker, message
from mailbridge.common.db.mailstore import IdleLease
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.fetcher.adapters.idle_leases import IdleLeaseStore
from mailbridge.fetcher.adapters.imap_idle import ImapIdleConnections
from mailbridge.fetcher.adapters.leases import RELEASED
from mailbridge.fetcher.idle_holder import IdleHolder, IdleSettings
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.providers import EXCHANGE_ONLINE
from mailbridge.testkit.scripted_imap import ScriptedImap, ScriptedMailbox
from sqlalchemy import select

WAIT_S = 60.0
TTL = timedelta(seconds=3)


class Pushes:
    """The push fetches a holder asked for (the port to NATS, recorded)."""

    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str]] = []

    async def push(self, account_id: uuid.UUID, msg_id: str) -> None:
        self.sent.append((account_id, msg_id))

    def of(self, account_id: uuid.UUID) -> list[str]:
        return [msg_id for account, msg_id in self.sent if account == account_id]


def holder(
    world: FetchWorld, pushes: Pushes, name: str, max_connections: int = 10, reissue_s: float = 1500.0
) -> IdleHolder:
    return IdleHolder(
        IdleLeaseStore(world.sessions, world.secrets), ImapIdleConnections(world.stack.client_context(), 10.0),
        pushes, NoBroker(), name,
        IdleSettings(max_connections, reissue_s, TTL, retry_s=0.2, retry_max_s=1.0),
    )  # fmt: skip


@asynccontextmanager
async def running(*holders: IdleHolder) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(h.run()) for h in holders]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for h in holders:
            await h.stop()


async def until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        await asyncio.sleep(0.05)


async def set_server(world: FetchWorld, account_id: uuid.UUID, **fields: object) -> None:
    async with world.sessions() as session:
        account = await session.get(MailAccount, account_id)
        assert account is not None
        server = await session.get(MailServer, account.server_id)
        assert server is not None
        for name, value in fields.items():
            setattr(server, name, value)
        await session.commit()


async def holders_of(world: FetchWorld) -> dict[uuid.UUID, str]:
    async with world.sessions() as session:
        rows = await session.execute(select(IdleLease.account_id, IdleLease.holder, IdleLease.expires_at))
        return {account: who for account, who, _ in rows}


async def test_18_only_imap_accounts_of_servers_with_push_are_candidates(world: FetchWorld) -> None:
    """`push: false` on the mail server opts its accounts out; POP3 has no IDLE; an account that
    may not receive (A10) is not fetched at all. IMAP and IMAP download are pushed."""
    stack = world.stack
    imap = await world.account(stack.add_user())
    download = await world.account(stack.add_user(), protocol="imap_download")
    await world.account(stack.add_user(), protocol="pop3")
    opted_out = await world.account(stack.add_user())
    await set_server(world, opted_out, push=False)
    await world.account(stack.add_user(), can_receive=False)  # A10
    store = IdleLeaseStore(world.sessions, world.secrets)
    found = {c.account_id for c in await store.candidates(100)}
    assert found == {imap, download}
    await set_server(world, opted_out, push=True)
    assert opted_out in {c.account_id for c in await store.candidates(100)}, "push: true again"


async def test_18_an_idle_lease_has_one_holder_until_it_expires(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    store = IdleLeaseStore(world.sessions, world.secrets)
    assert await store.take(account, "a", timedelta(minutes=1))
    assert not await store.take(account, "b", timedelta(minutes=1)), "held by a"
    assert await store.renew("b", [account], timedelta(minutes=1)) == set(), "b holds nothing"
    assert await store.renew("a", [account], timedelta(minutes=1)) == {account}
    assert account not in {c.account_id for c in await store.candidates(10)}, "a live lease is no candidate"
    await store.release("a", [account])
    assert account in {c.account_id for c in await store.candidates(10)}
    assert await store.take(account, "b", timedelta(seconds=-1)), "a released lease is free"
    assert await store.take(account, "a", timedelta(minutes=1)), "an expired lease is taken over"
    assert await store.renew("b", [account], timedelta(minutes=1)) == set(), "b lost it"


async def test_18_new_mail_is_pushed_within_seconds_and_max_idle_per_fetcher_holds(world: FetchWorld) -> None:
    """Three pushable accounts, a replica that may hold two IDLE connections: it idles two, the
    third stays polled until a second replica takes it; a message arriving in an idling inbox
    becomes a push fetch of that account (and of no other)."""
    users = [world.stack.add_user() for _ in range(3)]
    accounts = [await world.account(user) for user in users]
    pushes = Pushes()
    first, second = holder(world, pushes, "replica-a", 2), holder(world, pushes, "replica-b", 10)
    async with running(first):
        await until("two accounts in IDLE", lambda: len(first.idling) == 2)
        await first.round()
        assert len(first.held) == 2, "at most two IDLE connections on this replica"
        leases = await holders_of(world)
        assert sorted(leases.values()) == ["replica-a", "replica-a"]
        watched = sorted(first.idling)[0]
        user = users[accounts.index(watched)]
        world.stack.seed(user.address, [message(1, user.address)])
        await until("a push fetch for the new message", lambda: bool(pushes.of(watched)))
        assert {account for account, _ in pushes.sent} == {watched}
        async with running(second):
            await until("the third account idling on the second replica", lambda: len(second.idling) == 1)
            assert second.idling.isdisjoint(first.held), "each account on one replica"
            assert first.held | second.held == set(accounts)


async def test_18_idle_is_reissued_and_a_dropped_connection_is_reopened(world: FetchWorld) -> None:
    user = world.stack.add_user()
    account = await world.account(user)
    pushes = Pushes()
    replica = holder(world, pushes, "replica-a", reissue_s=0.3)
    async with running(replica):
        await until("the account in IDLE", lambda: account in replica.idling)
        await asyncio.sleep(1.5)  # several DONE + IDLE
        assert replica.reconnects == 0, "IDLE re-issued on the same connection"
        world.stack.seed(user.address, [message(1, user.address)])
        await until("a push after the re-issues", lambda: len(pushes.of(account)) == 1)
        world.stack.dovecot.doveadm("kick", user.address)
        await until("the dropped connection reopened", lambda: replica.reconnects >= 1)
        await until("the account in IDLE again", lambda: account in replica.idling)
        world.stack.seed(user.address, [message(2, user.address)])
        await until("a push on the new connection", lambda: len(pushes.of(account)) >= 2)


async def test_18_a_server_without_idle_is_left_to_the_schedule(world: FetchWorld) -> None:
    """A server whose CAPABILITY has no IDLE: the watcher gives the account up, its lease is free
    again and this replica does not take it again (it rests); the schedule polls it."""
    without_idle = replace(
        EXCHANGE_ONLINE,
        capabilities_before_login=tuple(c for c in EXCHANGE_ONLINE.capabilities_before_login if c != "IDLE"),
        capabilities_after_login=tuple(c for c in EXCHANGE_ONLINE.capabilities_after_login if c != "IDLE"),
    )
    login, password = "owner@example.org", "app password 1"
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(world.stack.tls.server_cert, world.stack.tls.server_key)
    with HostileServer(
        ScriptedImap(without_idle, ScriptedMailbox(without_idle, login, password)), tls=tls
    ) as server:
        user = replace(world.stack.add_user(), address=login, password=password)
        account = await world.account(user)
        await set_server(world, account, incoming_host=f"127.0.0.1:{server.port}")
        replica = holder(world, Pushes(), "replica-a")
        await replica.round()
        assert replica.held == {account}, "leased to find out"
        await until("the watcher gave up", lambda: not replica.watching)
        await replica.round()
        assert replica.held == set()
        assert (await holders_of(world)).get(account) == "replica-a"
        store = IdleLeaseStore(world.sessions, world.secrets)
        assert account in {c.account_id for c in await store.candidates(10)}, "its lease was released"
        await replica.round()
        assert replica.held == set(), "it rests on this replica"
        await replica.stop()


async def test_18_turning_push_off_lets_an_idling_account_go(world: FetchWorld) -> None:
    account = await world.account(world.stack.add_user())
    replica = holder(world, Pushes(), "replica-a")
    async with running(replica):
        await until("the account in IDLE", lambda: account in replica.idling)
        await set_server(world, account, push=False)
        await until("the account let go", lambda: account not in replica.held)
        await until("its IDLE connection closed", lambda: account not in replica.idling)
        async with world.sessions() as session:
            lease = await session.get(IdleLease, account)
        assert lease is not None
        assert lease.expires_at == RELEASED, "its lease released"
        assert await IdleLeaseStore(world.sessions, world.secrets).pushable([account]) == {}
