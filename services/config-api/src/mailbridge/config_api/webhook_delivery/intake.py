"""Events in, deliveries out (#18): each event of `WEBHOOK_EVENTS` becomes one pending delivery
per enabled endpoint that wants its type, was registered before it occurred and, when it names a
business unit, matches the event's (looked up through the account or outbox row where the event
does not carry it). The rows are committed before the event is acked; (endpoint, event) is unique,
so a redelivered event, or two replicas racing, record it once."""

import logging
import uuid
from collections.abc import Sequence

from mailbridge.common.consumers import WEBHOOK_QUEUE
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount
from mailbridge.common.db.types import utcnow
from mailbridge.common.db.webhooks import WebhookDelivery, WebhookEndpoint
from mailbridge.common.events import MailFetched, Message
from mailbridge.common.webhook_events import AnyEvent, parse_event
from mailbridge.common.work_queue import PullConsumer, Settle, settle
from mailbridge.config_api.webhook_delivery.payloads import payload
from nats.aio.msg import Msg
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

logger = logging.getLogger(__name__)


async def _business_unit(session: AsyncSession, event: Message) -> uuid.UUID | None:
    if isinstance(event, MailFetched):
        return event.business_unit_id
    account_id = getattr(event, "account_id", None)
    outbox_id = getattr(event, "outbox_id", None)
    if account_id is None and outbox_id is not None:
        account_id = await session.scalar(
            select(OutboxMessage.account_id).where(OutboxMessage.id == outbox_id)
        )
    if account_id is None:
        return None
    unit: uuid.UUID | None = await session.scalar(
        select(MailAccount.business_unit_id).where(MailAccount.id == account_id)
    )
    return unit


async def _raw(session: AsyncSession, event: Message) -> bytes | None:
    if not isinstance(event, MailFetched):
        return None
    statement = (
        select(StoredMessage).where(StoredMessage.id == event.message_id).options(undefer(StoredMessage.raw))
    )
    stored = await session.scalar(statement)
    return None if stored is None else stored.raw


def _wanted(endpoints: Sequence[WebhookEndpoint], name: str, event: Message) -> list[WebhookEndpoint]:
    return [e for e in endpoints if name in e.event_types and e.created_at <= event.occurred_at]


async def record_event(
    sessions: async_sessionmaker[AsyncSession], name: str, event: Message, api_base: str
) -> int:
    """Record the event's deliveries; how many were new."""
    async with sessions() as session:
        enabled = (await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled))).all()
        endpoints = _wanted(enabled, name, event)
        if not endpoints:
            return 0
        unit = await _business_unit(session, event)
        endpoints = [e for e in endpoints if e.business_unit_id in (None, unit)]
        done = set(
            await session.scalars(
                select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.event_id)
            )
        )
        endpoints = [e for e in endpoints if e.id not in done]
        raw = await _raw(session, event) if any(e.include_body for e in endpoints) else None
        now = utcnow()
        for endpoint in endpoints:
            body = payload(name, event, api_base, raw if endpoint.include_body else None)
            session.add(
                WebhookDelivery(
                    endpoint_id=endpoint.id, event_id=event.event_id, event_type=name, payload=body,
                    status="pending", attempts=0, next_attempt_at=now,
                )
            )  # fmt: skip
        try:
            await session.commit()
        except IntegrityError:  # another replica recorded the same event meanwhile
            await session.rollback()
            return 0
        return len(endpoints)


def webhook_consumer(
    sessions: async_sessionmaker[AsyncSession], api_base: str, workers: int = 4
) -> PullConsumer[AnyEvent]:
    """The pull loop on `config-api-webhooks`: record, then ack; retry later when that failed."""
    queue = WEBHOOK_QUEUE

    async def on_event(_: AnyEvent, message: Msg) -> None:
        try:
            parsed = parse_event(message.subject, message.data)
        except ValidationError as error:
            logger.error("webhooks: an event that does not parse is dropped: %s", error)
            await settle(message, Settle.TERM)
            return
        if parsed is not None:
            try:
                await record_event(sessions, *parsed, api_base)
            except Exception:  # the database away: the event stays unacked, tried again later
                logger.exception("webhooks: recording event %s failed; retried later", parsed[1].event_id)
                await settle(message, Settle.RETRY, queue.backoff.delay_s(message.metadata.num_delivered))
                return
        await settle(message, Settle.ACK)

    return PullConsumer.for_queue(queue, on_event, workers)
