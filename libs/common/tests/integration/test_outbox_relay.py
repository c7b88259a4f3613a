"""The outbox relay on a real database: every pending event is published and deleted; on
PostgreSQL two relays running at once take different batches (row locks), so no event is
published twice; on SQLite a repeat is allowed (JetStream drops it by its message id)."""

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any, cast

from faststream.nats import NatsBroker
from mailbridge.common.db.engine import create_engine, create_session_factory, is_sqlite
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.events import MailSent
from mailbridge.common.ids import new_id
from mailbridge.common.messaging import MSG_ID_HEADER
from mailbridge.common.outbox_relay import enqueue_many, relay_forever, relay_once
from mailbridge.testkit.config_rows import empty_tables
from sqlalchemy import func, select


class RecordingBroker:
    """Stands in for the NATS broker and its JetStream client: records what was published,
    slowly enough for two relays to overlap."""

    def __init__(self) -> None:
        self.published: Counter[str] = Counter()
        self.connection = self

    def jetstream(self) -> "RecordingBroker":
        return self

    async def publish(self, subject: str, payload: bytes, *, headers: dict[str, str], **_: Any) -> None:
        await asyncio.sleep(0.001)
        self.published[headers[MSG_ID_HEADER]] += 1


async def test_two_relays_publish_every_event_and_on_postgresql_each_once(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    events = [MailSent(outbox_id=new_id(), smtp_reply="250 ok", attempt=1) for _ in range(450)]
    async with sessions() as session, session.begin():
        await enqueue_many(session, events)
    broker = RecordingBroker()
    relay = cast(NatsBroker, broker)

    async def drain() -> None:
        while await relay_once(sessions, relay, 5.0):
            pass

    await asyncio.gather(drain(), drain())
    async with sessions() as session:
        left = await session.scalar(select(func.count()).select_from(OutboxEvent))
    await engine.dispose()
    assert set(broker.published) == {str(event.event_id) for event in events}, "published under their own ids"
    assert left == 0, "published events are deleted"
    if not is_sqlite(database_url):
        assert set(broker.published.values()) == {1}


async def test_a_woken_relay_publishes_without_waiting_for_its_idle_poll(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    broker, wake = RecordingBroker(), asyncio.Event()
    relay = asyncio.create_task(
        relay_forever(sessions, cast(NatsBroker, broker), 5.0, idle=timedelta(hours=1), wake=wake)
    )
    try:
        await asyncio.sleep(0.2)  # the relay found nothing and sleeps for its hour
        event = MailSent(outbox_id=new_id(), smtp_reply="250 ok", attempt=1)
        async with sessions() as session, session.begin():
            await enqueue_many(session, [event])
        wake.set()
        async with asyncio.timeout(10):
            while str(event.event_id) not in broker.published:  # noqa: ASYNC110 - another task's record, polled
                await asyncio.sleep(0.01)
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await engine.dispose()


class FailingOnce:
    """A session factory whose first session cannot be had, as while the database restarts."""

    def __init__(self, sessions: Any) -> None:
        self.sessions, self.calls = sessions, 0

    def __call__(self) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionRefusedError("the database is restarting")
        return self.sessions()


async def test_a_relay_outlives_a_failed_pass_and_publishes_afterwards(database_url: str) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    event = MailSent(outbox_id=new_id(), smtp_reply="250 ok", attempt=1)
    async with sessions() as session, session.begin():
        await enqueue_many(session, [event])
    broker, failing = RecordingBroker(), FailingOnce(sessions)
    relay = asyncio.create_task(
        relay_forever(cast(Any, failing), cast(NatsBroker, broker), 5.0, idle=timedelta(milliseconds=50))
    )
    try:
        async with asyncio.timeout(10):
            while str(event.event_id) not in broker.published:  # noqa: ASYNC110 - another task's record, polled
                await asyncio.sleep(0.01)
        assert failing.calls >= 2
        assert not relay.done()
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
        await engine.dispose()
