"""The send use-case on a real database and a fault-injecting SMTP server: 250 → sent once;
4xx, 552 and drops → retried up to the limit; other 5xx → failed with the reply; a redelivered
SendRequested for a sent row sends nothing; G6 seals sent rows into the chain."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailSettings
from mailbridge.common.events import OutboxCheckpointed
from mailbridge.common.outbox_chain import SealedRow, first_broken
from mailbridge.common.outbox_checkpoints import genuine
from mailbridge.common.seal_keys import SealKeys, generate_seal_key
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.tls import client_context
from mailbridge.common.work_queue import Settle
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.mime import build_message
from mailbridge.sender.send_outbox import SendDeps, send_outbox
from mailbridge.testkit.config_rows import add_account
from sender_testing import FaultySmtpServer, account_database, outbox_row, queue_mail
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer


@dataclass
class World:
    deps: SendDeps
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    server: FaultySmtpServer
    keys: SealKeys

    async def queue(self, max_attempts: int = 3) -> uuid.UUID:
        return await queue_mail(self.sessions, self.account_id, "bob@example.org", max_attempts=max_attempts)

    async def row(self, outbox_id: uuid.UUID) -> OutboxMessage:
        return await outbox_row(self.sessions, outbox_id)


@pytest.fixture
async def world(database_url: str, smtp: FaultySmtpServer) -> AsyncIterator[World]:
    async with account_database(database_url, smtp.port) as (sessions, rows):
        tls = client_context(None)
        pool = SmtpPool(tls, timeout_s=5)
        keys = SealKeys([generate_seal_key()])
        deps = SendDeps(
            OutboxStore(sessions, SecretBox([generate_key()]), seals=keys),
            build_message,
            pool,
            ImapSentFolder(tls),
        )
        yield World(deps, sessions, rows.account_id, smtp, keys)
        await pool.close()


async def test_sent_once_even_when_redelivered(world: World) -> None:
    outbox_id = await world.queue()
    first = await send_outbox(world.deps, outbox_id)
    again = await send_outbox(world.deps, outbox_id)
    assert (first.settle, again.settle) == (Settle.ACK, Settle.ACK)
    assert len(world.server.received) == 1
    row = await world.row(outbox_id)
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.last_reply is not None
    assert row.last_reply.startswith("250")


@pytest.mark.parametrize(
    "reply", ["421 4.3.2 shutting down", "451 4.3.0 try later", "552 5.3.4 too big for now", "DROP"]
)
async def test_temporary_failures_are_retried_then_sent(world: World, reply: str) -> None:
    outbox_id = await world.queue()
    world.server.fail_next("DATA" if reply != "421 4.3.2 shutting down" else "MAIL", reply)
    first = await send_outbox(world.deps, outbox_id)
    assert first.settle is Settle.RETRY
    assert (await world.row(outbox_id)).status == "queued"
    second = await send_outbox(world.deps, outbox_id)
    assert second.settle is Settle.ACK
    row = await world.row(outbox_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(world.server.received) == 1


async def test_permanent_failure_is_recorded_with_the_reply(world: World) -> None:
    outbox_id = await world.queue()
    world.server.fail_next("MAIL", "550 5.7.1 relaying denied")
    result = await send_outbox(world.deps, outbox_id)
    row = await world.row(outbox_id)
    assert (result.settle, row.status) == (Settle.ACK, "failed")
    assert row.last_reply is not None
    assert "550" in row.last_reply
    assert world.server.received == []


async def test_temporary_failures_stop_at_the_attempt_limit(world: World) -> None:
    outbox_id = await world.queue(max_attempts=2)
    world.server.fail_next("DATA", "451 4.3.0 later", "451 4.3.0 later")
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.RETRY
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.ACK
    row = await world.row(outbox_id)
    assert (row.status, row.attempts) == ("failed", 2)


async def test_retry_sends_the_same_bytes(world: World) -> None:
    outbox_id = await world.queue()
    world.server.fail_next("DATA", "451 4.3.0 later")
    await send_outbox(world.deps, outbox_id)
    built = (await world.row(outbox_id)).message_id_header
    await send_outbox(world.deps, outbox_id)
    assert (await world.row(outbox_id)).message_id_header == built


async def test_g6_sent_rows_are_sealed_when_locking_is_on(world: World) -> None:
    async with world.sessions() as session:
        session.add(MailSettings(id=uuid.UUID(int=1), lock_after_send=True))
        await session.commit()
    ids = [await world.queue() for _ in range(3)]
    for outbox_id in ids:
        await send_outbox(world.deps, outbox_id)
    async with world.sessions() as session:
        sealed = list(
            await session.execute(select(OutboxMessage.id, OutboxMessage.chain_seq, OutboxMessage.locked))
        )
        await session.execute(update(MailSettings).values(lock_after_send=False))
        await session.commit()
    assert sorted((seq, locked) for _, seq, locked in sealed) == [(1, True), (2, True), (3, True)]
    # the Sent-folder mark comes after the seal: the G6 triggers let exactly that through
    await world.deps.store.appended(ids[0])
    assert (await world.row(ids[0])).appended_to_sent_folder


async def test_a_row_being_sent_elsewhere_is_retried_later_not_dropped(world: World) -> None:
    outbox_id = await world.queue()
    async with world.sessions() as session:
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(status="sending")
        )
        await session.commit()
    result = await send_outbox(world.deps, outbox_id)
    assert result.settle is Settle.RETRY
    assert world.server.received == []
    assert (await world.row(outbox_id)).status == "sending"


async def test_concurrent_sends_share_transactions_each_sent_once_and_sealed_in_one_chain(
    world: World,
) -> None:
    async with world.sessions() as session:
        session.add(MailSettings(id=uuid.UUID(int=1), lock_after_send=True))
        await session.commit()
    ids = [await world.queue() for _ in range(20)]
    results = await asyncio.gather(*(send_outbox(world.deps, outbox_id) for outbox_id in ids))
    async with world.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).options(undefer(OutboxMessage.raw))))
        await session.execute(update(MailSettings).values(lock_after_send=False))
        await session.commit()
    assert {r.settle for r in results} == {Settle.ACK}
    assert len(world.server.received) == 20
    assert {row.status for row in rows} == {"sent"}
    assert sorted(row.chain_seq or 0 for row in rows) == list(range(1, 21))
    sealed = [
        SealedRow(str(r.id), r.chain_seq or 0, str(r.account_id), r.message_id_header, r.sent_at, r.request,
                  r.raw or b"", r.chain_hash, r.seal_key_id)
        for r in sorted(rows, key=lambda row: row.chain_seq or 0)
    ]  # fmt: skip
    assert first_broken(sealed, world.keys) is None
    # one signed checkpoint per sealed batch (not per mail), the last one naming the head
    async with world.sessions() as session:
        found = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.subject == OutboxCheckpointed.subject)
        )
        checkpoints = [OutboxCheckpointed.model_validate_json(payload) for payload in found]
    assert 1 <= len(checkpoints) <= 20
    assert all(genuine(world.keys, each) for each in checkpoints)
    assert max(each.seq for each in checkpoints) == 20


async def test_the_same_command_twice_at_once_sends_once(world: World) -> None:
    outbox_id = await world.queue()
    first, second = await asyncio.gather(
        send_outbox(world.deps, outbox_id), send_outbox(world.deps, outbox_id)
    )
    assert sorted([first.settle, second.settle]) == [Settle.ACK, Settle.RETRY]
    assert len(world.server.received) == 1
    assert (await world.row(outbox_id)).status == "sent"


async def test_a_mail_that_cannot_be_built_fails_with_the_field_named(world: World) -> None:
    async with world.sessions() as session:
        row = OutboxMessage(account_id=world.account_id, request={"to": ["not an address"], "subject": "x"})
        session.add(row)
        await session.commit()
    result = await send_outbox(world.deps, row.id)
    stored = await world.row(row.id)
    assert (result.settle, stored.status) == (Settle.ACK, "failed")
    assert stored.last_reply is not None
    assert stored.last_reply.startswith("cannot be built: to:")
    assert world.server.received == []


async def test_an_account_that_cannot_send_fails_its_own_mail_only(world: World) -> None:
    foreign = SecretBox([generate_key()]).encrypt("a password under a key nobody here has")
    broken = await add_account(
        world.sessions, smtp_host=f"127.0.0.1:{world.server.port}", address="broken@example.org",
        password_encrypted=foreign, server={"smtp_auth": True},
    )  # fmt: skip
    good = await world.queue()
    async with world.sessions() as session:
        row = OutboxMessage(account_id=broken.account_id, request={"to": ["bob@example.org"], "subject": "x"})
        session.add(row)
        await session.commit()
    ok, failed = await asyncio.gather(send_outbox(world.deps, good), send_outbox(world.deps, row.id))
    assert (ok.settle, failed.settle) == (Settle.ACK, Settle.ACK)
    assert (await world.row(good)).status == "sent"
    stored = await world.row(row.id)
    assert stored.status == "failed"
    assert stored.last_reply == (
        "cannot be sent: account broken@example.org: a stored secret cannot be decrypted with any key"
    )
    assert len(world.server.received) == 1
    async with world.sessions() as session:
        events = [json.loads(payload) for payload in await session.scalars(select(OutboxEvent.payload))]
    failure = next(event for event in events if event["outbox_id"] == str(row.id))
    assert (failure["attempt"], stored.attempts) == (1, 1), "the SendFailed event names the attempt counted"
