"""What the sender sends: a plain description of one outbox mail, free of storage details."""

import uuid
from dataclasses import dataclass, field

from mailbridge.common.plaintext_auth import plaintext_auth_refusal
from mailbridge.common.provider_limits import NO_LIMITS, ProviderLimits


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "application/pdf"
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    outbox_id: uuid.UUID
    from_address: str  # the account's address (A5)
    alias: str | None  # display name (A7); None: the bare address
    reply_to: str | None  # A6
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()  # envelope only, never a header
    account_bcc: str | None = None  # A9: envelope only, never a header
    subject: str = ""
    text: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None  # Message-ID of the mail answered
    references: tuple[str, ...] = ()
    message_id_domain: str = "mailbridge.invalid"
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmtpTarget:
    """Where and as whom to send; the password never shows in a repr, a log line or a traceback."""

    host: str
    port: int
    encryption: str  # "none" | "auto" | "ssl" (S4)
    auth: bool  # S5
    login: str
    password: str | None = field(repr=False)
    account_id: uuid.UUID | None = None  # whose OAuth token to ask the broker for
    oauth: bool = False  # S2: the server has an OAuth provider, so AUTH XOAUTH2 with a broker token
    limits: ProviderLimits = NO_LIMITS  # #17: the server's provider limits, shared by every replica
    allow_plaintext_auth: bool = False  # S4: the server allows AUTH in clear off loopback (#17)

    @property
    def plaintext_auth_refusal(self) -> str | None:
        """Why logging in here would send credentials in clear (refused), or None."""
        return plaintext_auth_refusal(self.host, self.encryption, self.auth, self.allow_plaintext_auth)
