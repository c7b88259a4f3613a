"""Claims renewed while a mail is in flight, the sweep of rows no command will move, and the byte
budget, on a real database (SQLite and PostgreSQL) and a real SMTP server (aiosmtpd)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from mailbridge.common.budget import Budget
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.outbox import OutboxAttachment, OutboxMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.events import EgressSendRequested, MailSent, SendRequested
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.tls import client_context
from mailbridge.common.work_queue import Settle
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.store import INLINE_BYTES, OutboxStore
from mailbridge.sender.adapters.sweep import SweepRule, sweep
from mailbridge.sender.mime import build_message
from mailbridge.sender.model import Found, OutboxStatus, Outcome
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import Delivery, Mailer
from mailbridge.sender.send_outbox import MEMORY_PER_STORED_BYTE, SendDeps, send_outbox
from sender_testing import FaultySmtpServer, account_database, outbox_row
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

RULE = SweepRule(timedelta(seconds=30), timedelta(seconds=30), timedelta(minutes=31))
HOUR_AGO = timedelta(hours=1)


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    server: FaultySmtpServer
    database_url: str

    def store(self, stale_after: timedelta = timedelta(seconds=30)) -> OutboxStore:
        return OutboxStore(self.sessions, SecretBox([generate_key()]), stale_after)

    async def queue(self, attachment: bytes = b"", **values: Any) -> uuid.UUID:
        async with self.sessions() as session:
            row = OutboxMessage(
                account_id=self.account_id, request={"to": ["bob@example.org"], "subject": "Hi", "text": "Hello"},
                **values,
            )  # fmt: skip
            session.add(row)
            await session.flush()
            if attachment:
                session.add(OutboxAttachment(outbox_id=row.id, filename="a.bin", content_type="application/x",
                                             data=attachment))  # fmt: skip
            await session.commit()
            return row.id

    async def age(self, outbox_id: uuid.UUID, by: timedelta, **values: Any) -> None:
        """Move the row's last change back in time (and set `values`), as if time had passed."""
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage.__table__)  # type: ignore[arg-type]
                .where(OutboxMessage.id == outbox_id)
                .values(updated_at=utcnow() - by, **values)
            )

    async def row(self, outbox_id: uuid.UUID) -> OutboxMessage:
        return await outbox_row(self.sessions, outbox_id)


@pytest.fixture
async def world(database_url: str, smtp: FaultySmtpServer) -> AsyncIterator[World]:
    async with account_database(database_url, smtp.port) as (sessions, rows):
        yield World(sessions, rows.account_id, smtp, database_url)


async def test_a_renewed_claim_is_never_taken_over_and_a_dead_one_is(world: World) -> None:
    outbox_id = await world.queue()
    live, other = world.store(), world.store()
    assert (await live.claim(outbox_id)).found is Found.CLAIMED
    await world.age(outbox_id, HOUR_AGO)  # long past stale: only the renewal keeps it
    assert await live.renew_claims() == 1
    assert (await other.claim(outbox_id)).found is Found.IN_FLIGHT
    live.let_go(outbox_id)  # its sender is done with it (or dead): nothing renews it any more
    await world.age(outbox_id, HOUR_AGO)
    assert await live.renew_claims() == 0
    assert (await other.claim(outbox_id)).found is Found.CLAIMED


async def test_the_sweep_requests_lost_and_dead_rows_again_once(world: World) -> None:
    lost = await world.queue()
    await world.age(lost, timedelta(minutes=2))
    with_command = await world.queue()
    await world.age(with_command, timedelta(minutes=2))
    async with world.sessions() as session, session.begin():  # its first command still in the outbox
        session.add(OutboxEvent(id=with_command, subject=SendRequested.subject, payload="{}"))
    fresh = await world.queue()
    backing_off = await world.queue(attempts=2)
    await world.age(backing_off, timedelta(minutes=10), attempts=2)
    forgotten_retry = await world.queue()
    await world.age(forgotten_retry, timedelta(hours=2), attempts=2)
    dead_claim = await world.queue()
    await world.age(dead_claim, timedelta(minutes=2), status="sending", attempts=1)
    live_claim = await world.queue()
    await world.age(live_claim, timedelta(seconds=5), status="sending", attempts=1)
    egress = await world.queue(egress=True)
    await world.age(egress, timedelta(minutes=2))

    sweeps = await asyncio.gather(*(sweep(world.sessions, False, RULE) for _ in range(2)))
    stale = [i for swept in sweeps for i in swept.stale]
    queued = [i for swept in sweeps for i in swept.queued]
    assert stale == [dead_claim], "given back once, however many senders sweep"
    assert sorted(queued) == sorted([lost, forgotten_retry])
    row = await world.row(dead_claim)
    assert (row.status, row.attempts) == ("queued", 1), "back in the queue, its attempt still counted"
    async with world.sessions() as session:
        events = list(await session.scalars(select(OutboxEvent).where(OutboxEvent.id != with_command)))
    commands = [SendRequested.model_validate_json(event.payload) for event in events]
    assert sorted(command.outbox_id for command in commands) == sorted([lost, forgotten_retry, dead_claim])
    assert all(command.event_id != command.outbox_id for command in commands), "a new message id"
    assert (await sweep(world.sessions, False, RULE)).queued == [], "marked: not again at the next pass"
    assert (await sweep(world.sessions, True, RULE)).queued == [egress], "S6: the egress pool's own"
    async with world.sessions() as session:
        egress_events = select(OutboxEvent.payload).where(OutboxEvent.subject == EgressSendRequested.subject)
        payloads = await session.scalars(egress_events)
        assert [EgressSendRequested.model_validate_json(p).outbox_id for p in payloads] == [egress]
    assert (await sweep(world.sessions, False, RULE, include_queued=False)).queued == []
    assert {fresh, backing_off, live_claim}.isdisjoint(stale + queued)


class BudgetWatch:
    """The real SMTP pool, noting the budget in use whenever a mail is handed to it."""

    def __init__(self, pool: Mailer, budget: Budget) -> None:
        self.pool, self.budget, self.held = pool, budget, list[int]()

    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery:
        self.held.append(self.budget.held)
        await asyncio.sleep(0.05)  # long enough for the others to pile up behind
        return await self.pool.deliver(target, raw, envelope_from, envelope_to)


async def test_large_mails_wait_for_the_budget_without_losing_an_attempt(world: World) -> None:
    big = bytes(range(256)) * (3 * INLINE_BYTES // 256)  # ~192 KiB: read only once it fits
    budget = Budget((2 * len(big) + 64 * 1024) * MEMORY_PER_STORED_BYTE)  # two large ones, and small ones
    tls = client_context(None)
    pool = SmtpPool(tls, timeout_s=5)
    watch = BudgetWatch(pool, budget)
    deps = SendDeps(world.store(), build_message, watch, ImapSentFolder(tls), budget)
    large = [await world.queue(big) for _ in range(5)]
    small = [await world.queue() for _ in range(10)]
    try:
        results = await asyncio.gather(*(send_outbox(deps, outbox_id) for outbox_id in large + small))
    finally:
        await pool.close()
    assert {result.settle for result in results} == {Settle.ACK}
    assert max(watch.held) <= budget.limit
    assert any(held > 0 for held in watch.held)
    assert budget.held == 0, "all given back"
    rows = [await world.row(outbox_id) for outbox_id in large + small]
    assert {(row.status, row.attempts) for row in rows} == {("sent", 1)}, "waiting cost no attempt"
    assert len(world.server.received) == 15
    async with world.sessions() as session:
        raws = await session.scalars(select(OutboxMessage.raw).where(OutboxMessage.id.in_(large)))
        sizes = [len(raw or b"") for raw in raws]
    assert min(sizes) > len(big), "the large mails went whole"


class Refusing:
    """Sessions of a database that refuses its first `refusals` connections (it is restarting),
    or fails them with `error`."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], refusals: int,
        error: Exception | None = None,
    ) -> None:  # fmt: skip
        self.sessions, self.refusals, self.refused = sessions, refusals, 0
        self.error = error or ConnectionRefusedError(111, "Connect call failed")

    def __call__(self) -> AsyncSession:
        if self.refused < self.refusals:
            self.refused += 1
            raise self.error
        return self.sessions()


async def test_an_outcome_is_saved_once_the_database_is_back_while_the_claim_is_held(world: World) -> None:
    """S2, #15: a mail the server took while the database was away is recorded `sent` when it
    returns, not left `sending` for the sweep to send again; its claim stays held meanwhile."""
    outbox_id = await world.queue()
    refusing = Refusing(world.sessions, refusals=0)
    store = OutboxStore(refusing, SecretBox([generate_key()]), timedelta(seconds=30))  # type: ignore[arg-type]
    assert (await store.claim(outbox_id)).found is Found.CLAIMED
    refusing.refusals = 3
    await store.record(Outcome(outbox_id, OutboxStatus.SENT, "250 ok", 1))
    assert refusing.refused == 3, "tried again after each refusal"
    assert store.held == 1, "the claim is let go by the send, after the outcome is saved"
    assert (await world.row(outbox_id)).status == "sent"


async def test_an_outcome_is_given_up_after_the_staleness_time_and_other_errors_at_once(world: World) -> None:
    """Past `stale_after` the row may be a dead sender's to the sweep: holding on wins nothing."""
    outbox_id = await world.queue()
    refusing = Refusing(world.sessions, refusals=10**6)
    store = OutboxStore(refusing, SecretBox([generate_key()]), timedelta(seconds=0.5))  # type: ignore[arg-type]
    with pytest.raises(ConnectionRefusedError):
        await store.record(Outcome(outbox_id, OutboxStatus.SENT, "250 ok", 1))
    assert 1 < refusing.refused < 10, "a short backoff, bounded by the staleness time"
    assert (await world.row(outbox_id)).status == "queued"
    failing = Refusing(world.sessions, refusals=10**6, error=ValueError("not a lost connection"))
    broken = OutboxStore(failing, SecretBox([generate_key()]), timedelta(seconds=30))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a lost connection"):
        await broken.record(Outcome(outbox_id, OutboxStatus.SENT, "250 ok", 1))
    assert failing.refused == 1, "an error retrying cannot help is raised at once"


async def test_a_retry_after_a_lost_reply_to_commit_records_nothing_twice(world: World) -> None:
    """#15: the connection drops after COMMIT was sent and before its reply: the first try was
    recorded, so the retry records nothing again (one MailSent, no second G6 seal)."""
    outbox_id = await world.queue()
    store = OutboxStore(world.sessions, SecretBox([generate_key()]), timedelta(seconds=30))
    assert (await store.claim(outbox_id)).found is Found.CLAIMED
    committed = store._record_sealed
    tries = 0

    async def reply_lost_once(found: list[Outcome]) -> list[None]:
        nonlocal tries
        tries += 1
        done = await committed(found)
        if tries == 1:
            raise ConnectionResetError(104, "Connection reset by peer")
        return done

    store._record_sealed = reply_lost_once  # type: ignore[method-assign]
    await store.record(Outcome(outbox_id, OutboxStatus.SENT, "250 ok", 1))
    assert tries == 1, "the retry found the outcome recorded and wrote nothing"
    assert (await world.row(outbox_id)).status == "sent"
    async with world.sessions() as session:
        sent_events = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.subject == MailSent.subject)
        )
    assert sent_events == 1
