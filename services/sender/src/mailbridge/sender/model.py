"""The sender's records: the one verdict on every step, a claimed outbox row, an attempt's outcome.

Every step of a send ends in one `Verdict`: the SMTP delivery, the Sent-folder append (S10) and
the send as a whole (which settles its command). Where it leaves the process it keeps the values
it always had: the outbox row's `status` column (`OutboxStatus`, `status_after`), MailSent and
SendFailed, and the command acked or nakked (`subscribers`).
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mailbridge.common.endpoints import Endpoint
from mailbridge.sender.outgoing import OutgoingMail, SmtpTarget


class Verdict(StrEnum):
    DONE = "done"  # sent (or nothing left to do)
    RETRY = "retry"  # 4xx, 552, network, a server away: try again later, with backoff
    GIVE_UP = "give_up"  # other 5xx, refused credentials, a mail no server would take: retrying cannot help


class OutboxStatus(StrEnum):
    """The outbox row's `status` column: queued → sending → sent | failed."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def status_after(verdict: Verdict) -> OutboxStatus:
    """The row's status after an attempt: a retry puts it back in the queue, with the same bytes."""
    return {Verdict.DONE: OutboxStatus.SENT, Verdict.RETRY: OutboxStatus.QUEUED}.get(
        verdict, OutboxStatus.FAILED
    )


class Found(StrEnum):
    CLAIMED = "claimed"  # moved to `sending`: send it now
    IN_FLIGHT = "in_flight"  # being sent by another worker (claimed, not yet stale)
    UNAPPENDED = "unappended"  # sent, but the Sent-folder append (S10) is still to do
    DONE = "done"  # sent or failed (or gone): nothing to do
    UNUSABLE = "unusable"  # claimed, but its account cannot send (say, a password no key decrypts)


@dataclass(frozen=True)
class Claimed:
    """A claimed outbox row: what to send, where, and the bytes if already built."""

    mail: OutgoingMail
    target: SmtpTarget
    raw: bytes | None
    attempt: int
    max_attempts: int
    sent_folder: str | None
    imap: Endpoint  # where the Sent folder lives (S10): the account's incoming IMAP server
    # #17: each recipient's state from earlier attempts (`recipients`); a retry skips the settled
    recipients: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    may_send: bool = True  # A8: the account's can_send now, not when the mail was queued


@dataclass(frozen=True)
class Claim:
    found: Found
    row: Claimed | None = None  # for CLAIMED and UNAPPENDED; None: too large to come along, `load` it
    reason: str = ""  # for UNUSABLE
    attempt: int = 0  # for UNUSABLE: the attempt this claim counted
    size: int = 0  # the mail's bytes in the database, for CLAIMED and UNAPPENDED

    @property
    def holds_claim(self) -> bool:
        """Whether this claim moved the row to `sending` (the caller must `let_go` of it)."""
        return self.found in (Found.CLAIMED, Found.UNUSABLE)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: `sent`, `failed`, or `queued` again for a retry."""

    outbox_id: uuid.UUID
    status: OutboxStatus
    reply: str
    attempt: int
    recipients: dict[str, Any] | None = None  # every recipient's state (#17); None: left as stored
    built: tuple[bytes, str] | None = None  # the bytes and Message-ID, when built by this attempt
