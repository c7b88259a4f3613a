"""A12 out-of-office end to end against the harness's Postfix and Dovecot, with the real sender
(its composition root, `main.create_app`) on a real NATS: a correspondent's mail is delivered
(Postfix → Dovecot, which writes Return-Path), taken from the IMAP inbox and stored with its
MailFetched in one transaction as the fetcher does; the sender's auto-reply consumer decides, and
the reply travels through the outbox and Postfix's submission port back to the correspondent.
RFC 3834: one reply with its headers; none to list mail or to `Auto-Submitted: auto-generated`;
one per sender however many mails; none more for a redelivered MailFetched."""

import asyncio
import contextlib
import smtplib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes
from pathlib import Path

import pytest
from auto_reply_testing import mail_bytes, set_out_of_office
from faststream.nats import NatsBroker
from mailbridge.common.consumers import AUTO_REPLY_QUEUE, EGRESS_SEND_QUEUE, SEND_QUEUE
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.out_of_office import AutoRepliedMessage
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.events import MailFetched
from mailbridge.common.messaging import create_broker
from mailbridge.common.outbox_relay import enqueue
from mailbridge.common.seal_keys import generate_seal_key
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.sender.main import create_app
from mailbridge.sender.settings import SenderSettings
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser
from nats.js.errors import NotFoundError
from sender_testing import delivered
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WITHIN_S = 60.0  # a bound on waiting for mail, never a claim about speed


async def inbox(stack: MailStack, user: MailUser, at_least: int = 1) -> list[bytes]:
    """The user's inbox once it holds `at_least` messages."""
    async with asyncio.timeout(WITHIN_S):
        while True:
            found = delivered(stack, user)
            if len(found) >= at_least:
                return found
            await asyncio.sleep(0.05)


@dataclass
class World:
    stack: MailStack
    me: MailUser
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    broker: NatsBroker

    def deliver(self, sender: MailUser, raw: bytes) -> None:
        """The correspondent's mail through Postfix's plain port; Dovecot files it in the inbox."""
        with smtplib.SMTP(self.stack.host, self.stack.ports.smtp) as smtp:
            smtp.sendmail(sender.address, [self.me.address], raw)

    async def fetch(self, count: int) -> list[MailFetched]:
        """The inbox's messages past those fetched before, stored with their MailFetched outbox rows
        in one transaction, as the fetcher commits a batch."""
        found = await inbox(self.stack, self.me, count)
        events = []
        async with self.sessions() as session:
            stored = await session.scalar(select(func.count()).select_from(StoredMessage)) or 0
            for uid, raw in enumerate(found[stored:], start=stored + 1):
                row = StoredMessage(
                    account_id=self.account_id, folder="INBOX", uidvalidity=1, uid=uid, sha256=uuid.uuid4().hex,
                    size=len(raw), raw=raw,
                )  # fmt: skip
                session.add(row)
                await session.flush()
                event = MailFetched(
                    account_id=self.account_id, business_unit_id=None, folder="INBOX", message_id=row.id,
                    subject_line=None, from_address=None, size=len(raw), sha256=row.sha256,
                )  # fmt: skip
                enqueue(session, event)
                events.append(event)
            await session.commit()
        return events

    async def decided(self, event: MailFetched) -> str:
        async with asyncio.timeout(WITHIN_S):
            while True:
                async with self.sessions() as session:
                    decision = await session.get(AutoRepliedMessage, event.message_id)
                if decision is not None:
                    return decision.outcome
                await asyncio.sleep(0.05)

    async def all_sent(self) -> list[OutboxMessage]:
        async with asyncio.timeout(WITHIN_S):
            while True:
                async with self.sessions() as session:
                    rows = list(await session.scalars(select(OutboxMessage)))
                if all(row.status == "sent" for row in rows):
                    return rows
                assert not [row.last_reply for row in rows if row.status == "failed"]
                await asyncio.sleep(0.05)

    async def redeliver(self, event: MailFetched) -> None:
        """The same MailFetched once more (a new Nats-Msg-Id, as a second publish after the
        de-duplication window), and wait until the consumer has acknowledged it."""
        js = self.broker.connection.jetstream()
        ack = await js.publish(
            event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": uuid.uuid4().hex}
        )
        async with asyncio.timeout(WITHIN_S):
            while True:
                info = await js.consumer_info(ack.stream, AUTO_REPLY_QUEUE.durable)
                if info.ack_floor.stream_seq >= ack.seq:
                    return
                await asyncio.sleep(0.05)


@pytest.fixture
async def world(
    database_url: str, nats_url: str, mail_stack: MailStack, mail_user: MailUser, tmp_path: Path
) -> AsyncIterator[World]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    key = generate_key()
    rows = await add_account(
        sessions, smtp_host=f"127.0.0.1:{mail_stack.ports.submission}", incoming_protocol="imap",
        incoming_host=f"127.0.0.1:{mail_stack.ports.imap}", login=mail_user.address, address=mail_user.address,
        password_encrypted=SecretBox([key]).encrypt(mail_user.password),
        server={"smtp_encryption": "auto", "smtp_auth": True}, account={"can_set_out_of_office": True},
    )  # fmt: skip
    await set_out_of_office(sessions, rows.account_id)
    settings = SenderSettings(
        database_url=database_url, nats_url=nats_url, secret_key=key, var_dir=tmp_path,
        extra_ca_file=mail_stack.ca_file, send_workers=8, seal_key=generate_seal_key(),
    )  # fmt: skip
    sender = create_app(settings)
    broker = create_broker(nats_url, "auto-reply-test")
    await broker.connect()
    await sender.start()
    try:
        yield World(mail_stack, mail_user, sessions, rows.account_id, broker)
    finally:
        await sender.stop()
        await _remove_durables(broker)
        await broker.stop()
        await engine.dispose()


async def _remove_durables(broker: NatsBroker) -> None:
    """The sender's durables leave the session's NATS with this test: a work-queue stream
    allows one durable per subject, and other tests declare their own."""
    js = broker.connection.jetstream()
    for queue in (SEND_QUEUE, EGRESS_SEND_QUEUE, AUTO_REPLY_QUEUE):
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(queue.stream.name, queue.durable)


def _headers(raw: bytes) -> dict[str, str]:
    message = message_from_bytes(raw)
    return {name.lower(): str(value) for name, value in message.items()}


async def test_a12_a_fetched_mail_gets_exactly_one_reply_even_when_redelivered(world: World) -> None:
    bob = world.stack.add_user()
    original = mail_bytes(bob.address, world.me.address, extra="References: <m0@example.net>\r\n")
    world.deliver(bob, original)
    (event,) = await world.fetch(1)
    assert await world.decided(event) == "replied"
    (row,) = await world.all_sent()
    (reply,) = await inbox(world.stack, bob)
    headers, asked = _headers(reply), _headers(original)
    assert headers["auto-submitted"] == "auto-replied"
    assert headers["subject"] == "Out of office: Meeting on Friday"
    assert headers["to"] == bob.address
    assert headers["from"] == world.me.address
    assert headers["in-reply-to"] == asked["message-id"]
    assert headers["references"] == f"<m0@example.net> {asked['message-id']}"
    assert headers["return-path"] == f"<{world.me.address}>"
    assert message_from_bytes(reply).get_payload() == "Back on Monday.\r\n"
    assert row.request["to"] == [bob.address]
    await world.redeliver(event)  # a redelivered MailFetched: no second reply
    assert len(await world.all_sent()) == 1
    assert len(delivered(world.stack, bob)) == 1


async def test_a12_two_mails_from_one_sender_get_one_reply(world: World) -> None:
    carol = world.stack.add_user()
    world.deliver(carol, mail_bytes(carol.address, world.me.address, "First"))
    world.deliver(carol, mail_bytes(carol.address, world.me.address, "Second"))
    first, second = await world.fetch(2)
    assert sorted([await world.decided(first), await world.decided(second)]) == [
        "recently_replied",
        "replied",
    ]
    assert len(await world.all_sent()) == 1
    assert len(await inbox(world.stack, carol)) == 1


@pytest.mark.parametrize(
    ("extra", "outcome"),
    [
        ("List-Id: Team <team.example.net>\r\nList-Unsubscribe: <mailto:leave@example.net>\r\n", "list_mail"),
        ("Auto-Submitted: auto-generated\r\n", "auto_submitted"),
    ],
)
async def test_a12_list_mail_and_machine_mail_get_no_reply(world: World, extra: str, outcome: str) -> None:
    dave = world.stack.add_user()
    world.deliver(dave, mail_bytes(dave.address, world.me.address, extra=extra))
    (event,) = await world.fetch(1)
    assert await world.decided(event) == outcome
    async with world.sessions() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []
    assert delivered(world.stack, dave) == []
