"""Events and commands between the services: frozen pydantic models, each with its subject.

Declared once, here. A breaking change is a new model with a new `.vN` subject, never an edit in
place. Secrets never travel in events: streams are logs that are kept.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from mailbridge.common.db.types import utcnow
from mailbridge.common.ids import new_id
from pydantic import BaseModel, ConfigDict, Field, JsonValue

SUBJECT_ROOT = "mailbridge"

# The documented examples (#18: the AsyncAPI document at config-api's /asyncapi.json shows them).
_ACCOUNT = "0196a1c2-7d3e-7a10-9c55-3f0e8b2d4a61"
_UNIT = "0196a1c2-7d3e-7b22-8d01-5a7c2e9f0b13"
_MESSAGE = "0196a1c3-0a4b-7c31-a2f4-9e1d6b8c3f07"
_OUTBOX = "0196a1c3-1f2e-7d45-b6a8-2c4e9f1a7d52"


def example(**fields: JsonValue) -> ConfigDict:
    """A model's example in its JSON schema, with the identity and time every message has."""
    common: dict[str, JsonValue] = {
        "event_id": "0196a1c3-2b3c-7e56-8f9a-1b2c3d4e5f60",
        "occurred_at": "2026-05-04T09:30:00Z",
    }
    return ConfigDict(json_schema_extra={"examples": [common | fields]})


class Message(BaseModel):
    """Base of every event and command: identity and time of occurrence."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    subject: ClassVar[str]

    event_id: uuid.UUID = Field(default_factory=new_id)
    occurred_at: datetime = Field(default_factory=utcnow)


class FetchReason(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    RELOAD = "reload"
    TEST = "test"
    PUSH = "push"  # #18: the account's IMAP IDLE connection saw new mail


class FetchRequested(Message):
    """Command: fetch one account's mail (G2 schedule, manual fetch, G5 reload, T1 test)."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.fetch.requested.v1"
    model_config = example(account_id=_ACCOUNT, reason="manual", requested_by="api-key:admin")
    account_id: uuid.UUID
    reason: FetchReason
    requested_by: str | None = None


class MailboxAction(StrEnum):
    MARK_SEEN = "mark_seen"
    MARK_UNSEEN = "mark_unseen"
    MOVE_TO_TRASH = "move_to_trash"
    MOVE_TO_SPAM = "move_to_spam"


class MailboxChangeRequested(Message):
    """Command: apply a change made through the API to the message on the IMAP server."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.fetch.change.v1"
    model_config = example(message_id=_MESSAGE, action="mark_seen")
    message_id: uuid.UUID
    action: MailboxAction


class SendRequested(Message):
    """Command: send the stored outbox message (the mail itself is in the database)."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.send.requested.v1"
    model_config = example(outbox_id=_OUTBOX)
    outbox_id: uuid.UUID


class EgressSendRequested(SendRequested):
    """Command: send through the server's fixed egress (S6); only `sender --pool egress` takes it."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.send.egress.v1"


class MailFetched(Message):
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.mail.fetched.v1"
    model_config = example(
        account_id=_ACCOUNT, business_unit_id=_UNIT, folder="INBOX", message_id=_MESSAGE,
        subject_line="Order 4711: delivery date", from_address="buyer@customer.example",
        size=18432, sha256="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    )  # fmt: skip
    account_id: uuid.UUID
    business_unit_id: uuid.UUID | None
    folder: str
    message_id: uuid.UUID
    subject_line: str | None
    from_address: str | None
    size: int
    sha256: str


class MailSent(Message):
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.mail.sent.v1"
    model_config = example(outbox_id=_OUTBOX, smtp_reply="250 2.0.0 Ok: queued as 4Q7XkB1z", attempt=1)
    outbox_id: uuid.UUID
    smtp_reply: str
    attempt: int


class SendFailed(Message):
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.mail.send_failed.v1"
    model_config = example(
        outbox_id=_OUTBOX, smtp_reply="550 5.1.1 <nobody@customer.example>: Recipient address rejected",
        attempt=1,
    )  # fmt: skip
    outbox_id: uuid.UUID
    smtp_reply: str
    attempt: int


class MailboxReset(Message):
    """The server changed a folder's UIDVALIDITY: the store was re-based, not refilled."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.mailbox.reset.v1"
    model_config = example(
        account_id=_ACCOUNT, folder="INBOX", old_uidvalidity=1714000000, new_uidvalidity=1714820000
    )
    account_id: uuid.UUID
    folder: str
    old_uidvalidity: int
    new_uidvalidity: int


class MailRemovedOnServer(Message):
    """IMAP (S7): stored messages found gone from their folder on the server (expunged, or moved
    away by another client). They stay stored, marked `removed_on_server_at`; one event per
    folder and poll, at most `MAX_IDS` messages each (a larger removal comes as several)."""

    MAX_IDS: ClassVar[int] = 500
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.mail.removed_on_server.v1"
    model_config = example(
        account_id=_ACCOUNT, business_unit_id=_UNIT, folder="INBOX", message_ids=[_MESSAGE]
    )
    account_id: uuid.UUID
    business_unit_id: uuid.UUID | None
    folder: str
    message_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_IDS)


class TokenRefreshed(Message):
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.oauth.token_refreshed.v1"
    model_config = example(account_id=_ACCOUNT, expires_at="2026-05-04T10:30:00Z")
    account_id: uuid.UUID
    expires_at: datetime


class AccountStateChanged(Message):
    subject: ClassVar[str] = f"{SUBJECT_ROOT}.account.state_changed.v1"
    model_config = example(
        account_id=_ACCOUNT, state="failing", reason="IMAP login refused: AUTHENTICATIONFAILED"
    )
    account_id: uuid.UUID
    state: Literal["ok", "failing", "needs_reconnect"]
    reason: str | None = None


class OutboxCheckpointed(Message):
    """G6: a signed checkpoint of the outbox chain's head, published once per sealed batch to a
    stream that denies delete and purge, so deleting the newest sealed rows shows (seal_keys.py,
    outbox_checkpoints.py). `mac` is the HMAC of `seq`, `outbox_id` and `seal` under `key_id`."""

    subject: ClassVar[str] = f"{SUBJECT_ROOT}.audit.outbox_checkpoint.v1"
    model_config = example(
        seq=42, outbox_id=_OUTBOX, seal="3f1c9a0e5b7d2468ace0f13579bdf02468ace13579bdf02468ace13579bdf024",
        key_id="k1", mac="b5d4045c3f466fa91fe2cc6abe79232a1a57cdf104f7a26e716e0a1e2789df78",
    )  # fmt: skip
    seq: int
    outbox_id: uuid.UUID
    seal: str
    key_id: str
    mac: str


ALL_MESSAGES: tuple[type[Message], ...] = (
    FetchRequested, MailboxChangeRequested, SendRequested, EgressSendRequested, MailFetched,
    MailSent, SendFailed, MailboxReset, MailRemovedOnServer, TokenRefreshed, AccountStateChanged,
    OutboxCheckpointed,
)  # fmt: skip
