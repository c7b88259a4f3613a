"""#17: provider limits shared by every sender replica, on the real NATS KV and both databases,
against a fault-injecting SMTP server: a mail over its mailbox's rate waits its turn without
spending an attempt; a throttling answer (4.7.0) to one replica slows the other; two pools
together keep to one connection limit; the retry schedule and the give-up show on the item."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.limits_kv import KvStore
from mailbridge.common.provider_limits import ProviderLimits
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.shared_limits import SharedLimits, scope_key
from mailbridge.common.tls import client_context
from mailbridge.common.work_queue import Settle
from mailbridge.sender.adapters.send_limits import LimitedMailer, counts_of, mailbox_pause, server_pause
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.mime import build_message
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.send_outbox import SendDeps, send_outbox
from mailbridge.testkit.connection_slots import shared_bucket
from nats.js.kv import KeyValue
from sender_testing import FaultySmtpServer, account_database, outbox_row, queue_mail
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

LIMITS = {"messages_per_minute_per_mailbox": 1, "smtp_connections_per_login": 2}


class Clock:
    """The replicas' shared time: a turn comes when the test says, never by waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    server: FaultySmtpServer
    clock: Clock
    replicas: list[SendDeps]  # two senders: own pools, own SharedLimits, one bucket
    pools: list[SmtpPool]

    async def queue(self, max_attempts: int = 3, to: str = "bob@example.org") -> uuid.UUID:
        return await queue_mail(self.sessions, self.account_id, to, max_attempts=max_attempts)

    async def row(self, outbox_id: uuid.UUID) -> OutboxMessage:
        return await outbox_row(self.sessions, outbox_id)


@pytest.fixture
async def bucket(nats_url: str) -> AsyncIterator[KeyValue]:
    async with shared_bucket(nats_url, "test-send-limits") as found:
        yield found


@pytest.fixture
async def world(database_url: str, smtp: FaultySmtpServer, bucket: KeyValue) -> AsyncIterator[World]:
    login = f"limits-{uuid.uuid4().hex}"  # its own keys in the session's bucket
    async with account_database(database_url, smtp.port, login=login, server=LIMITS) as (sessions, rows):
        tls, clock, pools = client_context(None), Clock(), []
        store = OutboxStore(sessions, SecretBox([generate_key()]))
        replicas = []
        for _ in range(2):
            limits = SharedLimits(KvStore(bucket), clock)
            pools.append(SmtpPool(tls, timeout_s=5, idle_s=0.2, limits=limits, slot_wait_s=0.05))
            mailer = LimitedMailer(pools[-1], limits, horizon_s=0, clock=clock, sleep=clock.sleep)
            replicas.append(SendDeps(store, build_message, mailer, ImapSentFolder(tls)))
        yield World(sessions, rows.account_id, smtp, clock, replicas, pools)
        for pool in pools:
            await pool.close()
    target = SmtpTarget("127.0.0.1", smtp.port, "none", False, login, None, limits=ProviderLimits(*[9] * 6))
    keys = [count.key for count in counts_of(target, 1)] + [mailbox_pause(target), server_pause(target)]
    keys.append(scope_key("conn", "smtp", "127.0.0.1", smtp.port, login, ""))  # the pool's slots
    for key in keys:  # what this test counted: nothing of it is left for another run on this port
        await bucket.purge(key)


async def test_a_mail_over_the_rate_waits_its_turn_without_spending_an_attempt(world: World) -> None:
    first, second = await world.queue(), await world.queue(max_attempts=1)
    assert (await send_outbox(world.replicas[0], first)).settle is Settle.ACK
    waiting = await send_outbox(world.replicas[1], second)  # the other replica: same mailbox limit
    assert waiting.settle is Settle.RETRY
    row = await world.row(second)
    assert (row.status, row.attempts, row.retry_reason, row.gave_up_at) == ("queued", 0, "limit", None)
    turn = datetime.fromtimestamp(world.clock.now + 60, UTC).replace(microsecond=0)
    assert row.next_attempt_at is not None
    assert abs((row.next_attempt_at - turn).total_seconds()) <= 1
    assert len(world.server.received) == 1  # its last attempt was not spent: not given up either
    world.clock.now += 60
    assert (await send_outbox(world.replicas[1], second)).settle is Settle.ACK
    row = await world.row(second)
    assert (row.status, row.attempts, row.next_attempt_at, row.retry_reason) == ("sent", 1, None, None)


async def test_a_throttle_answer_to_one_replica_slows_the_other(world: World) -> None:
    throttled, other = await world.queue(), await world.queue()
    world.server.fail_next("MAIL", "451 4.7.0 Temporary server error. Please try again later (throttled)")
    assert (await send_outbox(world.replicas[0], throttled)).settle is Settle.RETRY
    row = await world.row(throttled)
    assert (row.status, row.attempts, row.retry_reason) == ("queued", 1, "throttled")
    held = await send_outbox(world.replicas[1], other)
    assert held.settle is Settle.RETRY
    row = await world.row(other)
    assert (row.attempts, row.retry_reason) == (0, "limit")
    assert row.last_reply is not None
    assert "throttled" in row.last_reply
    assert world.server.received == []


async def test_the_schedule_and_the_give_up_show_on_the_item(world: World) -> None:
    outbox_id = await world.queue(max_attempts=2)
    world.server.fail_next("RCPT", "450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted")
    assert (await send_outbox(world.replicas[0], outbox_id)).settle is Settle.RETRY
    row = await world.row(outbox_id)
    assert (row.status, row.attempts, row.retry_reason, row.gave_up_at) == ("queued", 1, "greylisted", None)
    assert row.next_attempt_at is not None
    assert 150 <= (row.next_attempt_at - row.updated_at).total_seconds() <= 300  # a greylister's minutes
    world.clock.now += 300
    world.server.fail_next("MAIL", "421 4.3.2 Service shutting down")
    assert (await send_outbox(world.replicas[1], outbox_id)).settle is Settle.ACK  # its last attempt
    row = await world.row(outbox_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 2, None)
    assert row.gave_up_at is not None


async def test_two_pools_together_keep_to_one_connection_limit(world: World) -> None:
    mails = [await world.queue(to=f"r{i}@example.org") for i in range(12)]
    # the pools alone (no rate of a mail a minute): only the shared connection slots, 2 for this login
    unlimited = [replace(deps, mailer=pool) for deps, pool in zip(world.replicas, world.pools, strict=True)]
    results = await asyncio.gather(*(send_outbox(unlimited[i % 2], m) for i, m in enumerate(mails)))
    assert {r.settle for r in results} == {Settle.ACK}
    assert len(world.server.received) == 12
    assert world.server.most_open <= 2


async def test_a_connection_limit_one_replica_learnt_holds_for_the_other(world: World) -> None:
    """No configured limit: the server refuses a third connection (421), the first replica learns
    that it allows two, and the second waits for one of those instead of being refused too."""
    async with world.sessions() as session:
        account = await session.get(MailAccount, world.account_id)
        assert account is not None
        await session.execute(
            update(MailServer)
            .where(MailServer.id == account.server_id)
            .values(smtp_connections_per_login=None)
        )
        await session.commit()
    world.server.allow(2)
    pools = [replace(deps, mailer=pool) for deps, pool in zip(world.replicas, world.pools, strict=True)]
    first = [await world.queue(to=f"a{i}@example.org") for i in range(6)]
    second = [await world.queue(to=f"b{i}@example.org") for i in range(6)]
    assert {r.settle for r in await asyncio.gather(*(send_outbox(pools[0], m) for m in first))} == {
        Settle.ACK
    }
    # while the first replica's two connections are still open, the second one sends
    assert {r.settle for r in await asyncio.gather(*(send_outbox(pools[1], m) for m in second))} == {
        Settle.ACK
    }
    assert len(world.server.received) == 12
    assert world.server.most_open <= 2
