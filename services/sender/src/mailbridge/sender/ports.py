"""What the send use-case needs; adapters implement these, unit tests fake them."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from mailbridge.sender.outgoing import ImapServer, OutgoingMail, SmtpTarget


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, 552, network: retry with backoff
    PERMANENT = "permanent"  # other 5xx, refused credentials: failed with the reply


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    reply: str
    recipients: dict[str, str] = field(default_factory=dict)  # per refused recipient: its reply


@dataclass(frozen=True)
class Built:
    raw: bytes
    message_id: str
    envelope_from: str
    envelope_to: tuple[str, ...]


@dataclass
class SentFolderFailure(Exception):
    """The Sent-folder append (S10) failed; `temporary` failures are tried again later."""

    temporary: bool
    reason: str

    def __str__(self) -> str:
        return f"{'temporary' if self.temporary else 'permanent'}: {self.reason}"


class Builder(Protocol):
    def __call__(self, mail: OutgoingMail, now: datetime) -> Built: ...


class Mailer(Protocol):
    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery: ...


class SentFolder(Protocol):
    async def append_once(
        self, target: SmtpTarget, imap: ImapServer, folder: str, raw: bytes, message_id: str
    ) -> None: ...
