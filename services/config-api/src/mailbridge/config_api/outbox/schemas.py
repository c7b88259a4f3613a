"""Outbox request and response bodies."""

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from mailbridge.common.recipient_states import RecipientState, legacy_states
from mailbridge.config_api.fields import AddressText, address
from mailbridge.config_api.schemas import RequestModel, example
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

Recipient = Annotated[AddressText, address("address")]
Recipients = Annotated[list[Recipient], Field(max_length=500)]
Subject = Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")]


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PydanticCustomError("base64", "content_base64 is not valid base64") from error
    return value


Filename = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f/\\]+$")]
ContentType = Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+$", max_length=200)]
OCTET_STREAM = "application/octet-stream"
MAX_ATTACHMENTS = 100


class AttachmentIn(RequestModel):
    filename: Filename
    content_type: ContentType = OCTET_STREAM
    content_base64: Annotated[str, AfterValidator(_base64)]


class MailFields(RequestModel):
    """Everything of a mail but its attachments: the `message` part of the multipart form."""

    model_config = example(
        to=["buyer@customer.example"], subject="Order 4711: delivery on Friday",
        text="Dear Ms Smith,\n\nyour order ships on Friday.\n\nKind regards\nAnna Berger",
    )  # fmt: skip
    to: Recipients = []
    cc: Recipients = []
    bcc: Recipients = []
    subject: Subject = ""
    text: str | None = None
    html: str | None = None
    in_reply_to: uuid.UUID | None = Field(default=None, description="id of a stored message answered")


class SendRequestIn(MailFields):
    """The JSON body: the mail with its attachments in base64."""

    model_config = example(
        to=["buyer@customer.example"], cc=[], subject="Order 4711: delivery on Friday",
        text="Dear Ms Smith,\n\nyour order ships on Friday.\n\nKind regards\nAnna Berger",
        attachments=[{"filename": "order-4711.txt", "content_type": "text/plain",
                      "content_base64": "T3JkZXIgNDcxMTogMyBpdGVtcw=="}],
    )  # fmt: skip

    attachments: Annotated[list[AttachmentIn], Field(max_length=MAX_ATTACHMENTS)] = []


class Attachment(BaseModel):
    """One attachment as stored, whichever form brought it."""

    filename: Filename
    content_type: ContentType
    data: bytes


@dataclass(frozen=True)
class MailDraft:
    """What both request forms become: one code path queues it."""

    fields: MailFields
    attachments: list[Attachment]


class OutboxPatch(RequestModel):
    model_config = example(subject="Order 4711: delivery on Monday")
    subject: Subject | None = None
    text: str | None = None
    html: str | None = None


class RecipientStateOut(BaseModel):
    """One recipient's state (#17): `refused_temporarily` ones are tried again, only they."""

    state: RecipientState
    reply: str = Field(description="the server's reply to this recipient")
    attempt: int = Field(description="the attempt that ended in this state (0: not recorded)")


class OutboxOut(BaseModel):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    requested_by_user_id: uuid.UUID | None
    status: str
    attempts: int
    max_attempts: int
    last_reply: str | None
    recipient_states: dict[str, RecipientStateOut] = Field(
        default_factory=dict, description="#17: every recipient tried so far, by address"
    )
    recipient_results: dict[str, Any] = Field(
        default_factory=dict, description="the refused recipients' replies, by address (see recipient_states)"
    )
    request: dict[str, Any]
    message_id_header: str | None
    sent_at: datetime | None
    locked: bool
    # #17: the retry schedule (with `attempts` of `max_attempts`) and the final give-up
    next_attempt_at: datetime | None = Field(
        default=None, description="when the next attempt is due (queued again after a temporary failure)"
    )
    retry_reason: str | None = Field(
        default=None,
        description="what chose the backoff: throttled, greylisted, connection_closed, temporary, network, "
        "or limit (waiting for a provider limit: no attempt spent)",
    )
    gave_up_at: datetime | None = Field(default=None, description="when it failed for good")
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _one_story(self) -> "OutboxOut":
        """Rows sent before 0015 have only `recipient_results`; later ones only `recipient_states`:
        each field is shown from whichever the row holds."""
        if not self.recipient_states and self.recipient_results:
            legacy = legacy_states(self.recipient_results)
            self.recipient_states = {a: RecipientStateOut.model_validate(v) for a, v in legacy.items()}
        elif self.recipient_states and not self.recipient_results:
            self.recipient_results = {
                address: found.reply
                for address, found in self.recipient_states.items()
                if found.state is not RecipientState.ACCEPTED
            }
        return self
