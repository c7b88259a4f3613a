"""Webhook request and response bodies (#18)."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

EventType = Literal["MailFetched", "MailSent", "SendFailed", "AccountStateChanged", "TokenRefreshed"]


def _distinct(values: list[EventType]) -> list[EventType]:
    return list(dict.fromkeys(values))


class WebhookIn(RequestModel):
    model_config = example(
        url="https://erp.example.com/hooks/mailbridge", event_types=["MailFetched", "SendFailed"],
        description="ERP inbox",
    )  # fmt: skip
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="http(s) only; never link-local or cloud metadata addresses, loopback and private "
        "ranges only with the mail setting webhooks_allow_private_targets (422 otherwise)"
    )
    event_types: Annotated[list[EventType], Field(min_length=1), AfterValidator(_distinct)]
    business_unit_id: uuid.UUID | None = Field(
        default=None, description="only events of this business unit's accounts; null: every unit's"
    )
    description: Annotated[str, StringConstraints(max_length=500)] | None = None
    include_body: bool = Field(
        default=False,
        description="MailFetched carries the raw message (base64); off: a headers summary and links",
    )
    enabled: bool = Field(default=True, description="true again after a give-up clears disabled_reason")


class WebhookOut(ResourceOut):
    url: str
    event_types: list[EventType]
    business_unit_id: uuid.UUID | None
    description: str | None
    include_body: bool
    enabled: bool
    disabled_reason: str | None = Field(description="why deliveries stopped (the last one gave up)")
    previous_secret_until: datetime | None = Field(
        description="during a rotation: until when deliveries are signed with the previous secret too"
    )
    secret: str | None = Field(default=None, description="`whsec_…`: only in the answer to POST, shown once")


WebhookPatch = patch_of(WebhookIn)


class SecretRotated(BaseModel):
    secret: str = Field(description="the new `whsec_…` secret, shown once")
    previous_secret_until: datetime = Field(description="deliveries are signed with both until then")


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: int
    outcome: str = Field(description="delivered, http_error, timeout, connect_error, refused_target")
    response_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    webhook_id: str = Field(description="the `webhook-id` header: the same for every attempt")
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_response_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    log: list[AttemptOut]
