"""#17's sending decisions on a real database and a fault-injecting SMTP server: a mail some of
whose recipients were refused temporarily goes again to those only, each recipient's state kept
on the row; A8 decided when the mail would leave; S4 credentials never sent in clear."""

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import MailSent, SendFailed
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.tls import client_context
from mailbridge.common.work_queue import Settle
from mailbridge.sender.adapters.sent_folder import ImapSentFolder
from mailbridge.sender.adapters.smtp import SmtpPool
from mailbridge.sender.adapters.store import OutboxStore
from mailbridge.sender.mime import build_message
from mailbridge.sender.send_outbox import MAY_NOT_SEND, SendDeps, send_outbox
from sender_testing import FaultySmtpServer, account_database, outbox_row, queue_mail
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ANN, BOB, CAROL = "ann@example.org", "bob@example.org", "carol@example.org"
GREYLISTED = "450 4.2.0 <bob@example.org>: greylisted, try again later"


@dataclass
class World:
    deps: SendDeps
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    server_id: uuid.UUID
    smtp: FaultySmtpServer
    box: SecretBox

    async def queue(self, *to: str, max_attempts: int = 3) -> uuid.UUID:
        return await queue_mail(self.sessions, self.account_id, *to, max_attempts=max_attempts)

    async def row(self, outbox_id: uuid.UUID) -> OutboxMessage:
        return await outbox_row(self.sessions, outbox_id)

    async def states(self, outbox_id: uuid.UUID) -> dict[str, str]:
        return {
            address: found["state"] for address, found in (await self.row(outbox_id)).recipient_states.items()
        }

    async def change(
        self, table: type[MailAccount] | type[MailServer], row_id: uuid.UUID, **values: Any
    ) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(table).where(table.id == row_id).values(**values))

    async def events(self, outbox_id: uuid.UUID) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
            return [row.subject for row in rows if str(outbox_id) in str(row.payload)]


@pytest.fixture
def smtp() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer(offer_auth=True) as running:
        yield running


@pytest.fixture
async def world(database_url: str, smtp: FaultySmtpServer) -> AsyncIterator[World]:
    async with account_database(database_url, smtp.port) as (sessions, rows):
        tls = client_context(None)
        pool = SmtpPool(tls, timeout_s=5)
        box = SecretBox([generate_key()])
        deps = SendDeps(OutboxStore(sessions, box), build_message, pool, ImapSentFolder(tls))
        yield World(deps, sessions, rows.account_id, rows.server_id, smtp, box)
        await pool.close()


async def test_a_recipient_refused_temporarily_is_retried_alone(world: World) -> None:
    """#17: 250 for ann and carol, 450 for bob: the mail goes again to bob only, never to the
    others twice, and the row shows every recipient's state with the server's reply."""
    outbox_id = await world.queue(ANN, BOB, CAROL)
    world.smtp.refuse(BOB, GREYLISTED)
    first = await send_outbox(world.deps, outbox_id)
    assert first.settle is Settle.RETRY
    row = await world.row(outbox_id)
    assert row.status == "queued"
    assert await world.states(outbox_id) == {
        ANN: "accepted", BOB: "refused_temporarily", CAROL: "accepted"
    }  # fmt: skip
    assert row.recipient_states[BOB]["reply"] == GREYLISTED
    assert row.last_reply is not None
    assert "accepted for 2 of 3 recipients" in row.last_reply
    assert GREYLISTED in row.last_reply
    world.smtp.accept(BOB)
    second = await send_outbox(world.deps, outbox_id)
    assert second.settle is Settle.ACK
    assert [m.rcpt_tos for m in world.smtp.received] == [(ANN, CAROL), (BOB,)]
    row = await world.row(outbox_id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert await world.states(outbox_id) == {ANN: "accepted", BOB: "accepted", CAROL: "accepted"}
    assert [found["attempt"] for found in row.recipient_states.values()] == [1, 2, 1]
    received = world.smtp.received
    assert received[0].data == received[1].data, "the same bytes, the same Message-ID"


async def test_a_mail_that_reached_someone_is_sent_when_the_attempts_run_out(world: World) -> None:
    """#17: bob still greylisted at the last attempt: the mail was sent (to ann), bob's state says
    why he did not get it; a permanent refusal is never tried again."""
    outbox_id = await world.queue(ANN, BOB, CAROL, max_attempts=2)
    world.smtp.refuse(BOB, GREYLISTED)
    world.smtp.refuse(CAROL, "550 5.1.1 <carol@example.org>: no such user")
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.RETRY
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.ACK
    assert [m.rcpt_tos for m in world.smtp.received] == [(ANN,)]
    assert world.smtp.wire.count(b"RCPT TO:<carol@example.org>") == 1
    assert world.smtp.wire.count(b"RCPT TO:<bob@example.org>") == 2
    row = await world.row(outbox_id)
    assert row.status == "sent"
    assert await world.states(outbox_id) == {
        ANN: "accepted", BOB: "refused_temporarily", CAROL: "refused_permanently"
    }  # fmt: skip
    assert await world.events(outbox_id) == [MailSent.subject]


async def test_every_recipient_refused_temporarily_then_permanently_fails(world: World) -> None:
    outbox_id = await world.queue(BOB)
    world.smtp.refuse(BOB, GREYLISTED)
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.RETRY
    world.smtp.refuse(BOB, "550 5.1.1 <bob@example.org>: no such user")
    assert (await send_outbox(world.deps, outbox_id)).settle is Settle.ACK
    row = await world.row(outbox_id)
    assert (row.status, await world.states(outbox_id)) == ("failed", {BOB: "refused_permanently"})


async def test_a8_a_mail_queued_before_can_send_was_switched_off_is_not_sent(world: World) -> None:
    """A8: the API refuses new mail once can_send is off; mail queued before fails with that reason."""
    outbox_id = await world.queue(ANN)
    await world.change(MailAccount, world.account_id, can_send=False)
    result = await send_outbox(world.deps, outbox_id)
    assert result.settle is Settle.ACK
    row = await world.row(outbox_id)
    assert (row.status, row.last_reply) == ("failed", MAY_NOT_SEND)
    assert "A8" in MAY_NOT_SEND
    assert world.smtp.connections == 0
    assert await world.events(outbox_id) == [SendFailed.subject]


async def test_s4_a_row_with_auth_in_clear_off_loopback_never_logs_in(world: World) -> None:
    """S4 (#17): the API refuses such a server; a row that has one anyway fails, naming why, and
    nothing reaches the network. Loopback, or the server's allow_plaintext_auth, may."""
    await world.change(MailAccount, world.account_id, password_encrypted=world.box.encrypt("secret"))
    await world.change(MailServer, world.server_id, smtp_host="smtp.example.net:2525", smtp_auth=True)
    outbox_id = await world.queue(ANN)
    result = await send_outbox(world.deps, outbox_id)
    row = await world.row(outbox_id)
    assert (result.settle, row.status) == (Settle.ACK, "failed")
    assert row.last_reply is not None
    assert "refusing to log in at smtp.example.net:2525" in row.last_reply
    assert "in clear" in row.last_reply
    assert "allow_plaintext_auth" in row.last_reply

    await world.change(MailServer, world.server_id, smtp_host=f"127.0.0.1:{world.smtp.port}")
    on_loopback = await world.queue(ANN)
    assert (await send_outbox(world.deps, on_loopback)).settle is Settle.ACK
    assert (await world.row(on_loopback)).status == "sent"
    assert world.smtp.auth_attempts == 1
