"""What the send use-case needs; adapters implement these, unit tests fake them."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mailbridge.common.endpoints import Endpoint
from mailbridge.common.oauth_requests import TokenReply
from mailbridge.common.recipient_states import RecipientState
from mailbridge.sender.model import Claim, Outcome, Verdict
from mailbridge.sender.outgoing import OutgoingMail, SmtpTarget


@dataclass(frozen=True)
class Delivery:
    outcome: Verdict  # RETRY: 4xx, 552, network; GIVE_UP: other 5xx, refused credentials
    reply: str
    # per recipient this attempt learnt about: its state and the server's reply (#17)
    recipients: dict[str, tuple[RecipientState, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Built:
    raw: bytes
    message_id: str
    envelope_from: str
    envelope_to: tuple[str, ...]


@dataclass
class SentFolderFailure(Exception):
    """The Sent-folder append (S10) failed; a RETRY is tried again later, GIVE_UP is not."""

    verdict: Verdict
    reason: str

    def __str__(self) -> str:
        return f"{'temporary' if self.verdict is Verdict.RETRY else 'permanent'}: {self.reason}"


class Builder(Protocol):
    def __call__(self, mail: OutgoingMail, now: datetime) -> Built: ...


class Mailer(Protocol):
    async def deliver(
        self, target: SmtpTarget, raw: bytes, envelope_from: str, envelope_to: tuple[str, ...]
    ) -> Delivery: ...


class SentFolder(Protocol):
    async def append_once(
        self, target: SmtpTarget, imap: Endpoint, folder: str, raw: bytes, message_id: str
    ) -> None: ...


class Outbox(Protocol):
    """The outbox rows: claimed before a send, let go of after it, the outcome recorded."""

    async def claim(self, outbox_id: uuid.UUID) -> Claim: ...

    def let_go(self, outbox_id: uuid.UUID) -> None: ...

    async def load(self, outbox_id: uuid.UUID) -> Claim: ...

    async def record(self, outcome: Outcome) -> None: ...

    async def appended(self, outbox_id: uuid.UUID) -> None: ...


class TokenSource(Protocol):
    """Access tokens for XOAUTH2 from the OAuth broker (S2, O4). `rejected`: the fingerprint of a
    token the mail server refused (`token_fingerprint`), so the broker refreshes once."""

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply: ...
