"""The delivery log of an endpoint (#18): its deliveries with their attempts, and resend."""

import uuid
from collections import defaultdict

from mailbridge.common.db.types import utcnow
from mailbridge.common.db.webhooks import WebhookAttempt, WebhookDelivery
from mailbridge.config_api.errors import NotFound
from mailbridge.config_api.paging import PageRequest, encode_cursor
from mailbridge.config_api.store import commit
from mailbridge.config_api.webhooks.schemas import AttemptOut, DeliveryOut
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession


def webhook_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` header of every attempt of a delivery."""
    return f"msg_{delivery_id.hex}"


async def page_of_deliveries(
    session: AsyncSession, endpoint_id: uuid.UUID, page: PageRequest
) -> tuple[list[DeliveryOut], str | None]:
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if page.after is not None:
        statement = statement.where(WebhookDelivery.id > page.after)
    rows = list((await session.scalars(statement.order_by(WebhookDelivery.id).limit(page.limit + 1))).all())
    cursor = encode_cursor(rows[page.limit - 1].id) if len(rows) > page.limit else None
    rows = rows[: page.limit]
    attempts: dict[uuid.UUID, list[AttemptOut]] = defaultdict(list)
    if rows:
        found = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([row.id for row in rows]))
            .order_by(WebhookAttempt.started_at, WebhookAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(AttemptOut.model_validate(attempt, from_attributes=True))
    return [render(row, attempts[row.id]) for row in rows], cursor


def render(row: WebhookDelivery, log: list[AttemptOut]) -> DeliveryOut:
    return DeliveryOut.model_validate(
        {
            "id": row.id, "webhook_id": webhook_id(row.id), "event_id": row.event_id,
            "event_type": row.event_type, "status": row.status, "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at, "last_response_code": row.last_response_code,
            "last_error": row.last_error, "created_at": row.created_at, "finished_at": row.finished_at,
            "log": log,
        }
    )  # fmt: skip


async def resend(session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    row = await session.get(WebhookDelivery, delivery_id)
    if row is None or row.endpoint_id != endpoint_id:
        raise NotFound(f"delivery {delivery_id} of webhook {endpoint_id} does not exist")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    row.finished_at = row.lease_until = row.lease_token = None
    await commit(session)
    return render(row, [])
