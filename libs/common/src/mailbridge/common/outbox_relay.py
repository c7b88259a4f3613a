"""Publishes the events that service transactions wrote to the outbox table, then deletes them.

At-least-once: a crash between publish and delete publishes again; each event carries its own
`event_id` as `Nats-Msg-Id`, so JetStream drops the repeat within the duplicate window. Once
published an event lives on in JetStream (the EVENTS stream), so the table holds only what is
still to be published and stays small however much mail goes through.
"""

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from contextlib import suppress
from datetime import timedelta
from typing import Any, cast

from faststream.nats import NatsBroker
from mailbridge.common.db.mailstore import OutboxEvent
from mailbridge.common.events import Message
from mailbridge.common.messaging import MSG_ID_HEADER
from mailbridge.common.streams import stream_for
from mailbridge.common.tracing import TRACEPARENT, current_traceparent
from nats.errors import Error as NatsError
from sqlalchemy import Row, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)
BATCH = 200


INSERT_EVENTS = insert(cast(Table, OutboxEvent.__table__))  # built once; rows from `outbox_row`


def outbox_row(event: Message) -> dict[str, Any]:
    """The outbox row of `event`: it shares the event's id, which the relay publishes as
    `Nats-Msg-Id`, and keeps the writer's trace context, published as `traceparent`."""
    return {
        "id": event.event_id, "subject": event.subject, "payload": event.model_dump_json(),
        "traceparent": current_traceparent(),
    }  # fmt: skip


def enqueue(session: AsyncSession, event: Message) -> None:
    """Write `event` to the outbox in the caller's transaction; the relay publishes it later."""
    session.add(OutboxEvent(**outbox_row(event)))


async def enqueue_many(session: AsyncSession, events: Iterable[Message]) -> None:
    """Many events in one statement, in the caller's transaction (for batch writers)."""
    rows = [outbox_row(event) for event in events]
    if rows:
        await session.execute(INSERT_EVENTS, rows)


async def relay_once(sessions: async_sessionmaker[AsyncSession], broker: NatsBroker, timeout_s: float) -> int:
    """Publish one batch of pending events; return how many were published.

    On PostgreSQL the batch stays locked (FOR UPDATE SKIP LOCKED) until it is deleted, so the
    relays of several processes take different batches instead of all publishing the same one.
    SQLite has no row locks, and a read transaction there cannot become a write once another
    process has written: it reads, publishes and deletes in separate steps (a repeat is dropped
    by its message id)."""
    async with sessions() as session:
        row_locks = session.get_bind().dialect.name == "postgresql"
        async with session.begin():
            pending = (await session.execute(_PENDING)).all()
            if row_locks:
                await _publish(broker, pending, timeout_s)
                await _delete_published(session, pending)
                return len(pending)
        await _publish(broker, pending, timeout_s)
        async with session.begin():
            await _delete_published(session, pending)
    return len(pending)


Pending = Sequence[Row[uuid.UUID, str, str, str | None]]  # id, subject, payload, traceparent
_PENDING = (
    select(OutboxEvent.id, OutboxEvent.subject, OutboxEvent.payload, OutboxEvent.traceparent)
    .order_by(OutboxEvent.id)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)


async def _publish(broker: NatsBroker, pending: Pending, timeout_s: float) -> None:
    # One batch in flight at once: JetStream acks them in any order; a failure fails the batch,
    # which is then published again (the repeat is dropped by its message id). Straight through
    # nats-py's JetStream client: FastStream's publish path cost a third more CPU per event.
    js = broker.connection.jetstream()
    await asyncio.gather(
        *(
            js.publish(
                event.subject,
                event.payload.encode(),
                timeout=timeout_s,
                stream=stream_for(event.subject).name,
                headers=_headers(event.id, event.traceparent),
            )
            for event in pending
        )
    )


def _headers(event_id: uuid.UUID, traceparent: str | None) -> dict[str, str]:
    if traceparent is None:
        return {MSG_ID_HEADER: str(event_id)}
    return {MSG_ID_HEADER: str(event_id), TRACEPARENT: traceparent}


async def _delete_published(session: AsyncSession, pending: Pending) -> None:
    if pending:
        await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([event.id for event in pending])))


async def relay_forever(
    sessions: async_sessionmaker[AsyncSession],
    broker: NatsBroker,
    timeout_s: float,
    idle: timedelta = timedelta(milliseconds=200),
    wake: asyncio.Event | None = None,
) -> None:
    """Relay until cancelled. Idle, it looks again after `idle`, or at once when `wake` is set
    (a writer that just committed an event sets it, so a command leaves within milliseconds).
    After a failed pass (NATS or the database away) it waits the whole `idle` and tries again: a
    wake-up cannot bring them back, and a relay that ended would leave every event unpublished."""
    while True:
        if wake is not None:
            wake.clear()  # an event committed from here on sets it again and is not missed
        try:
            if await relay_once(sessions, broker, timeout_s):
                continue
        except (NatsError, TimeoutError) as error:
            logger.warning("outbox relay: publishing failed, will retry: %s", error)
            await asyncio.sleep(idle.total_seconds())
            continue
        except Exception:  # the database restarting, a driver error: the relay must outlive it
            logger.exception("outbox relay: a pass failed, will retry")
            await asyncio.sleep(idle.total_seconds())
            continue
        if wake is None:
            await asyncio.sleep(idle.total_seconds())
        else:
            # asyncio.timeout, not wait_for: on 3.11 wait_for loses a cancellation that comes as
            # the wake-up does, and the relay would then never stop.
            with suppress(TimeoutError):
                async with asyncio.timeout(idle.total_seconds()):
                    await wake.wait()
