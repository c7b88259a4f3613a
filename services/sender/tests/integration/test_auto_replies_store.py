"""A12 out-of-office on both databases: the use-case `answer_fetched` over the SQL store — one
decision per message, one reply per sender and interval, the reply queued as the API queues a
mail (outbox row and its SendRequested in one transaction), A8 and S6 respected."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from auto_reply_testing import mail_bytes, set_out_of_office, store_message
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.out_of_office import AutoRepliedMessage
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.events import EgressSendRequested, SendRequested
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.sender.adapters.accounts import senders
from mailbridge.sender.adapters.auto_replies import AutoReplies
from mailbridge.sender.auto_reply import (
    MESSAGE_GONE,
    NO_OUT_OF_OFFICE,
    Answered,
    AutoReplyDeps,
    answer_fetched,
)
from mailbridge.sender.auto_reply_ports import Recorded
from mailbridge.sender.mime import build_message
from mailbridge.testkit.config_rows import add_account, empty_tables
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

ME = "anna@example.org"
BOB = "bob@example.net"


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    account_id: uuid.UUID
    server_id: uuid.UUID
    owner_id: uuid.UUID
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    woken: int = 0

    @property
    def deps(self) -> AutoReplyDeps:
        return AutoReplyDeps(AutoReplies(self.sessions), lambda: self.now, self._wake)

    def _wake(self) -> None:
        self.woken += 1

    async def fetched(self, raw: bytes, folder: str = "INBOX") -> tuple[uuid.UUID, Answered]:
        message_id = await store_message(self.sessions, self.account_id, raw, folder)
        return message_id, await answer_fetched(self.deps, self.account_id, folder, message_id)

    async def outbox(self) -> list[OutboxMessage]:
        async with self.sessions() as session:
            return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    async def decision(self, message_id: uuid.UUID) -> AutoRepliedMessage | None:
        async with self.sessions() as session:
            return await session.get(AutoRepliedMessage, message_id)

    async def change(
        self, model: type[MailAccount] | type[MailServer], row_id: uuid.UUID, **values: object
    ) -> None:
        async with self.sessions() as session:
            await session.execute(update(model).where(model.id == row_id).values(**values))
            await session.commit()


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    rows = await add_account(sessions, address=ME, login=ME, account={"can_set_out_of_office": True})
    await set_out_of_office(sessions, rows.account_id)
    yield World(sessions, rows.account_id, rows.server_id, rows.owner_id)
    await engine.dispose()


async def test_a12_a_reply_is_queued_with_its_send_command_in_one_transaction(world: World) -> None:
    message_id, answered = await world.fetched(mail_bytes(BOB, ME))
    assert answered == Answered(Recorded.QUEUED, "replied")
    assert world.woken == 1
    (row,) = await world.outbox()
    assert row.status == "queued"
    assert row.idempotency_key == f"auto-reply:{message_id}"
    assert row.requested_by_user_id == world.owner_id  # the owner sees it in the outbox (G3)
    assert row.request["to"] == [BOB]
    assert row.request["subject"] == "Out of office: Meeting on Friday"
    assert row.request["text"] == "Back on Monday.\n"
    assert row.request["headers"] == {"Auto-Submitted": "auto-replied"}
    async with world.sessions() as session:
        (event,) = await session.scalars(select(OutboxEvent))
    assert event.subject == SendRequested.subject
    assert SendRequested.model_validate_json(event.payload).outbox_id == row.id
    decision = await world.decision(message_id)
    assert decision is not None
    assert (decision.outcome, decision.outbox_id) == ("replied", row.id)


async def test_a12_the_sender_builds_the_reply_with_its_rfc3834_headers(world: World) -> None:
    await world.fetched(mail_bytes(BOB, ME, extra="References: <m0@example.net>\r\n"))
    (row,) = await world.outbox()
    async with world.sessions() as session:
        found = await senders(session, SecretBox([generate_key()]), {world.account_id})
    sender = found[world.account_id]
    assert not isinstance(sender, str)
    built = build_message(sender.mail(row.id, row.request, []), datetime.now(UTC))
    head = built.raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "\r\nAuto-Submitted: auto-replied" in head
    assert f"From: {ME}" in head
    assert f"To: {BOB}" in head
    assert "Subject: Out of office: Meeting on Friday" in head
    assert "In-Reply-To: <" in head
    assert "References: <m0@example.net> <" in head
    assert built.envelope_to == (BOB,)


async def test_a12_g5_a_redelivered_mail_fetched_sends_no_second_reply(world: World) -> None:
    message_id, _ = await world.fetched(mail_bytes(BOB, ME))
    again = await answer_fetched(world.deps, world.account_id, "INBOX", message_id)
    assert again.recorded is Recorded.ALREADY_DECIDED
    assert len(await world.outbox()) == 1
    assert world.woken == 1


async def test_a12_two_replicas_at_once_send_one_reply(world: World) -> None:
    message_id = await store_message(world.sessions, world.account_id, mail_bytes(BOB, ME))
    answers = await asyncio.gather(
        *(answer_fetched(world.deps, world.account_id, "INBOX", message_id) for _ in range(4))
    )
    assert sorted(a.recorded or "" for a in answers) == ["already_decided"] * 3 + ["queued"]
    assert len(await world.outbox()) == 1


async def test_a12_one_reply_per_sender_and_interval(world: World) -> None:
    await world.fetched(mail_bytes(BOB, ME))
    second_id, second = await world.fetched(mail_bytes(BOB.upper(), ME, "Another one"))
    assert second == Answered(Recorded.HELD, "recently_replied")
    decision = await world.decision(second_id)
    assert decision is not None
    assert decision.outbox_id is None
    _, other = await world.fetched(mail_bytes("carol@example.net", ME))
    assert other.recorded is Recorded.QUEUED
    world.now += timedelta(days=7)  # the interval over: Bob gets a reply again
    _, later = await world.fetched(mail_bytes(BOB, ME, date=world.now))
    assert later.recorded is Recorded.QUEUED
    assert [row.request["to"] for row in await world.outbox()] == [[BOB], ["carol@example.net"], [BOB]]


async def test_a12_racing_mails_from_one_sender_get_one_reply(world: World) -> None:
    ids = [
        await store_message(world.sessions, world.account_id, mail_bytes(BOB, ME, f"n{n}")) for n in range(4)
    ]
    answers = await asyncio.gather(*(answer_fetched(world.deps, world.account_id, "INBOX", i) for i in ids))
    assert sorted(a.outcome for a in answers) == ["recently_replied"] * 3 + ["replied"]
    assert len(await world.outbox()) == 1


async def test_a12_rules_are_recorded_and_nothing_is_queued(world: World) -> None:
    cases = {
        "list_mail": mail_bytes(BOB, ME, extra="List-Id: <team.example.net>\r\n"),
        "auto_submitted": mail_bytes(BOB, ME, extra="Auto-Submitted: auto-generated\r\n"),
        "machine_sender": mail_bytes("MAILER-DAEMON@example.net", ME),
        "not_a_recipient": mail_bytes(BOB, "team@example.net"),
    }
    for outcome, raw in cases.items():
        message_id, answered = await world.fetched(raw)
        assert answered == Answered(Recorded.HELD, outcome)
        decision = await world.decision(message_id)
        assert decision is not None
        assert decision.outcome == outcome
    _, in_sent = await world.fetched(mail_bytes(BOB, ME), folder="Sent")
    assert in_sent == Answered(Recorded.HELD, "not_inbox")
    assert await world.outbox() == []
    assert world.woken == 0


async def test_a12_a8_an_account_that_may_not_send_gets_no_reply_and_the_reason(world: World) -> None:
    await world.change(MailAccount, world.account_id, can_send=False)
    _, answered = await world.fetched(mail_bytes(BOB, ME))
    assert answered == Answered(Recorded.HELD, "cannot_send")
    assert await world.outbox() == []


async def test_a12_s6_egress_accounts_reply_through_the_egress_pool(world: World) -> None:
    await world.change(MailServer, world.server_id, send_via_server=True)
    await world.fetched(mail_bytes(BOB, ME))
    (row,) = await world.outbox()
    assert row.egress
    async with world.sessions() as session:
        (event,) = await session.scalars(select(OutboxEvent))
    assert event.subject == EgressSendRequested.subject


async def test_a12_without_an_enabled_out_of_office_nothing_is_read_or_written(world: World) -> None:
    other = await add_account(world.sessions, address="carl@example.org")
    message_id = await store_message(world.sessions, other.account_id, mail_bytes(BOB, "carl@example.org"))
    answered = await answer_fetched(world.deps, other.account_id, "INBOX", message_id)
    assert answered == Answered(None, NO_OUT_OF_OFFICE)
    await set_out_of_office(world.sessions, other.account_id, enabled=False)
    assert (
        await answer_fetched(world.deps, other.account_id, "INBOX", message_id)
    ).outcome == NO_OUT_OF_OFFICE
    assert await world.decision(message_id) is None


async def test_a12_a_message_no_longer_stored_is_skipped(world: World) -> None:
    answered = await answer_fetched(world.deps, world.account_id, "INBOX", uuid.uuid4())
    assert answered == Answered(None, MESSAGE_GONE)
