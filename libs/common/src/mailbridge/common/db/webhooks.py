"""Webhooks (#18): the business app's endpoints, one delivery per (endpoint, event), its attempts.

- `webhook_endpoints`: a URL, the event types it wants, optionally one business unit; its signing
  secret encrypted at rest (and, during a rotation, the previous one until `previous_secret_until`);
  `enabled` false with `disabled_reason` once a delivery gave up.
- `webhook_deliveries`: one row per event an endpoint is to receive, written before the event is
  acknowledged on NATS; (endpoint, event) is unique, so a redelivered event never makes a second
  one. Its id is the `webhook-id` of every attempt. Retries are driven from here: `next_attempt_at`
  says when, `lease_until`/`lease_token` which config-api replica holds the attempt now.
- `webhook_attempts`: the delivery log, one row per attempt (outcome, response code, duration).
"""

import uuid
from datetime import datetime

from mailbridge.common.db.tables import Base, Versioned
from mailbridge.common.db.types import UtcDateTime, utcnow
from mailbridge.common.ids import new_id
from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column


class WebhookEndpoint(Versioned, Base):
    __tablename__ = "webhook_endpoints"
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    business_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("business_units.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str | None] = mapped_column(String(500))
    include_body: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    previous_secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_event"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(40))
    last_response_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(20))  # delivered, http_error, timeout, …
    response_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(500))
