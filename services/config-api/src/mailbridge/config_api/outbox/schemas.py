"""Outbox request and response bodies."""

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from mailbridge.config_api.fields import AddressText, address
from mailbridge.config_api.schemas import RequestModel
from pydantic import AfterValidator, BaseModel, Field, StringConstraints
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

    to: Recipients = []
    cc: Recipients = []
    bcc: Recipients = []
    subject: Subject = ""
    text: str | None = None
    html: str | None = None
    in_reply_to: uuid.UUID | None = Field(default=None, description="id of a stored message answered")


class SendRequestIn(MailFields):
    """The JSON body: the mail with its attachments in base64."""

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
    subject: Subject | None = None
    text: str | None = None
    html: str | None = None


class OutboxOut(BaseModel):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    requested_by_user_id: uuid.UUID | None
    status: str
    attempts: int
    max_attempts: int
    last_reply: str | None
    recipient_results: dict[str, Any]
    request: dict[str, Any]
    message_id_header: str | None
    sent_at: datetime | None
    locked: bool
    created_at: datetime
    updated_at: datetime


class ChainReport(BaseModel):
    sealed_rows: int
    intact: bool
    first_altered_id: str | None
