"""A12 `auto_reply.answer_fetched` on a fake store: what it reads and records, in which case."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailbridge.sender.auto_reply import (
    MESSAGE_GONE,
    NO_OUT_OF_OFFICE,
    Answered,
    AutoReplyDeps,
    answer_fetched,
)
from mailbridge.sender.auto_reply_ports import Headers, Recorded, Situation
from mailbridge.sender.auto_reply_rules import Account, Hold, OutOfOffice, Reply

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
ACCOUNT_ID = uuid.uuid4()
SITUATION = Situation(
    ACCOUNT_ID,
    OutOfOffice(True, "Out of office", "Away.", None, None, 7, NOW),
    Account("anna@example.org", "INBOX", may_set_out_of_office=True, can_send=True),
    egress=False,
)
HEADERS = {"return-path": ["<bob@example.net>"], "to": ["anna@example.org"], "subject": ["Hi"]}


@dataclass
class FakeStore:
    situation_found: Situation | None = SITUATION
    stored: Headers | None = field(default_factory=lambda: HEADERS)
    headers_read: list[uuid.UUID] = field(default_factory=list)
    recorded: list[Reply | Hold] = field(default_factory=list)

    async def situation(self, account_id: uuid.UUID) -> Situation | None:
        return self.situation_found

    async def headers(self, message_id: uuid.UUID) -> Headers | None:
        self.headers_read.append(message_id)
        return self.stored

    async def record(
        self, message_id: uuid.UUID, situation: Situation, decision: Reply | Hold, now: datetime
    ) -> tuple[Recorded, str]:
        self.recorded.append(decision)
        if isinstance(decision, Reply):
            return Recorded.QUEUED, "replied"
        return Recorded.HELD, decision.value


@dataclass
class Wakes:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


async def test_a12_an_account_without_out_of_office_costs_one_read_and_no_write() -> None:
    store, wakes = FakeStore(situation_found=None), Wakes()
    answered = await answer_fetched(
        AutoReplyDeps(store, lambda: NOW, wakes), ACCOUNT_ID, "INBOX", uuid.uuid4()
    )
    assert answered == Answered(None, NO_OUT_OF_OFFICE)
    assert store.headers_read == []
    assert store.recorded == []
    assert wakes.count == 0


async def test_a12_mail_outside_the_inbox_is_recorded_without_reading_it() -> None:
    store = FakeStore()
    answered = await answer_fetched(
        AutoReplyDeps(store, lambda: NOW, Wakes()), ACCOUNT_ID, "Sent", uuid.uuid4()
    )
    assert answered == Answered(Recorded.HELD, "not_inbox")
    assert store.headers_read == []


async def test_a12_a_reply_is_recorded_and_wakes_the_relay() -> None:
    store, wakes = FakeStore(), Wakes()
    message_id = uuid.uuid4()
    answered = await answer_fetched(AutoReplyDeps(store, lambda: NOW, wakes), ACCOUNT_ID, "INBOX", message_id)
    assert answered == Answered(Recorded.QUEUED, "replied")
    assert store.headers_read == [message_id]
    (reply,) = store.recorded
    assert isinstance(reply, Reply)
    assert reply.to == "bob@example.net"
    assert wakes.count == 1


async def test_a12_a_message_gone_from_the_store_is_not_decided() -> None:
    store = FakeStore(stored=None)
    answered = await answer_fetched(
        AutoReplyDeps(store, lambda: NOW, Wakes()), ACCOUNT_ID, "INBOX", uuid.uuid4()
    )
    assert answered == Answered(None, MESSAGE_GONE)
    assert store.recorded == []
