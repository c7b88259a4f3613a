"""Delivering what is due (#18), on every config-api replica: claim → post → record.

A delivery is claimed with one conditional UPDATE (pending, due, its endpoint enabled, no live
lease) that sets a lease token and expiry, so two replicas never attempt it at once; a replica that
dies mid-attempt leaves a lease that expires, and the delivery is taken again. No database session
is held during the HTTP call. The outcome is recorded only under the claim's token: delivered, or
the next attempt from the schedule, or — the schedule spent — failed, and its endpoint disabled
with the reason.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbridge.common.db.tables import MailSettings
from mailbridge.common.db.types import utcnow
from mailbridge.common.db.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mailbridge.common.metrics import WEBHOOK_ATTEMPTS, WEBHOOKS_DISABLED
from mailbridge.common.secrets import SecretBox
from mailbridge.config_api.webhook_delivery import http_post
from mailbridge.config_api.webhook_delivery.http_post import AttemptResult
from mailbridge.config_api.webhook_delivery.schedule import RetrySchedule
from mailbridge.config_api.webhooks.log import webhook_id
from mailbridge.config_api.webhooks.signing import signed_headers
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

logger = logging.getLogger(__name__)
Post = Callable[[str, dict[str, str], bytes, float, bool], Awaitable[AttemptResult]]


@dataclass(frozen=True)
class DeliverySettings:
    schedule: RetrySchedule
    timeout_s: float = 15.0
    poll_s: float = 1.0
    batch: int = 10

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout_s * 2 + 30)


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    token: str


async def claim_due(sessions: async_sessionmaker[AsyncSession], settings: DeliverySettings) -> list[Claimed]:
    now = utcnow()
    free = or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now)
    due = (WebhookDelivery.status == "pending") & (WebhookDelivery.next_attempt_at <= now) & free
    claimed = []
    async with sessions() as session:
        candidates = await session.scalars(
            select(WebhookDelivery.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(due, WebhookEndpoint.enabled)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(settings.batch)
        )
        for delivery_id in list(candidates):
            token = uuid.uuid4().hex
            result = await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, due)
                .values(lease_until=now + settings.lease, lease_token=token)
            )
            assert isinstance(result, CursorResult)
            if result.rowcount == 1:
                claimed.append(Claimed(delivery_id, token))
        await session.commit()
    return claimed


def _keys(secrets: SecretBox, endpoint: WebhookEndpoint) -> list[str]:
    keys = [secrets.decrypt(endpoint.secret_encrypted)]
    rotating = endpoint.previous_secret_until is not None and endpoint.previous_secret_until > utcnow()
    if rotating and endpoint.previous_secret_encrypted is not None:
        keys.append(secrets.decrypt(endpoint.previous_secret_encrypted))
    return keys


async def attempt(
    sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, settings: DeliverySettings,
    claimed: Claimed, post: Post = http_post.post,
) -> None:  # fmt: skip
    async with sessions() as session:
        delivery = await session.get(WebhookDelivery, claimed.delivery_id)
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        mail_settings = await session.scalar(select(MailSettings))
        if delivery is None or endpoint is None:
            return
        url, body, keys = endpoint.url, delivery.payload.encode(), _keys(secrets, endpoint)
    allow_private = mail_settings is not None and mail_settings.webhooks_allow_private_targets
    started = utcnow()
    headers = signed_headers(keys, webhook_id(claimed.delivery_id), int(time.time()), body)
    result = await post(url, headers, body, settings.timeout_s, allow_private)
    await record(sessions, settings, claimed, started, result)


async def record(
    sessions: async_sessionmaker[AsyncSession], settings: DeliverySettings, claimed: Claimed,
    started: datetime, result: AttemptResult,
) -> None:  # fmt: skip
    async with sessions() as session:
        delivery = await session.get(WebhookDelivery, claimed.delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile
            return
        number = delivery.attempts + 1
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id, attempt=number, started_at=started, duration_ms=result.duration_ms,
                outcome=result.outcome, response_code=result.response_code, error=result.error,
            )
        )  # fmt: skip
        if delivery.lease_token == claimed.token:
            now = utcnow()
            delivery.attempts, delivery.lease_until, delivery.lease_token = number, None, None
            delivery.last_response_code, delivery.last_error = result.response_code, result.error
            if result.outcome == "delivered":
                delivery.status, delivery.finished_at, delivery.next_attempt_at = "delivered", now, None
            elif (delay := settings.schedule.delay_after(number)) is not None:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            else:
                delivery.status, delivery.finished_at, delivery.next_attempt_at = "failed", now, None
                await _disable(session, delivery, number, result)
        await session.commit()
    WEBHOOK_ATTEMPTS.labels(result.outcome).inc()


async def _disable(
    session: AsyncSession, delivery: WebhookDelivery, attempts: int, result: AttemptResult
) -> None:
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is not None:
        endpoint.enabled = False
        endpoint.disabled_reason = (
            f"delivery {webhook_id(delivery.id)} failed {attempts} times since "
            f"{delivery.created_at.isoformat(timespec='seconds')}; the last: {result.error}"
        )[:500]
        WEBHOOKS_DISABLED.inc()
        logger.warning("webhook %s disabled: %s", endpoint.id, endpoint.disabled_reason)


async def deliver_due(
    sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, settings: DeliverySettings,
    post: Post = http_post.post,
) -> int:  # fmt: skip
    """Attempt every delivery due now (up to a batch); how many were attempted."""
    claimed = await claim_due(sessions, settings)
    outcomes = await asyncio.gather(
        *(attempt(sessions, secrets, settings, c, post) for c in claimed), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            logger.error("a webhook attempt failed to run: %r", outcome)
    return len(claimed)


async def deliver_forever(
    sessions: async_sessionmaker[AsyncSession], secrets: SecretBox, settings: DeliverySettings
) -> None:
    """The loop config-api runs: what is due at once, else a look every `poll_s`."""
    while True:
        try:
            attempted = await deliver_due(sessions, secrets, settings)
        except Exception:  # the database away: the deliveries wait in it
            logger.exception("webhook deliveries could not be claimed; trying again")
            attempted = 0
        if attempted == 0:
            await asyncio.sleep(settings.poll_s)
