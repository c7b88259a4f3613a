"""What the fetch use-cases work with: the account's effective configuration and the lease."""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mailbridge.common.endpoints import IncomingProtocol, TransportSecurity
from mailbridge.fetcher.sync_plan import Cursor

INBOX = "INBOX"


@dataclass(frozen=True)
class AccountConfig:
    account_id: uuid.UUID
    business_unit_id: uuid.UUID | None
    protocol: IncomingProtocol
    host: str
    port: int
    security: TransportSecurity
    login: str
    password: str | None = field(repr=False)  # never in a repr, a log line or a traceback
    uses_oauth: bool
    inbox_folder: str
    sync_folders: tuple[str, ...]
    delete_after_fetch: bool
    delete_after_days: int | None
    can_receive: bool
    config_version: str  # changes whenever the account or its server changes
    trash_folder: str = "Trash"  # A11 override, else the server's (S10), else Trash
    spam_folder: str = "Junk"
    # S2/O4, OAuth accounts only: "disconnected" | "connected" | "needs_reconnect" (the broker's),
    # and why a grant was lost, in the provider's words.
    oauth_state: str = "disconnected"
    oauth_reason: str | None = None
    # #17: IMAP connections this login may hold on its server, every fetcher together (None: no limit)
    imap_connections_per_login: int | None = None

    @property
    def folders(self) -> tuple[str, ...]:
        """IMAP: the inbox, then the further folders chosen for the account; IMAP download and
        POP3: the inbox only."""
        if self.protocol is IncomingProtocol.IMAP:
            extra = tuple(f for f in self.sync_folders if f != self.inbox_folder)
            return (self.inbox_folder, *extra)
        return (self.inbox_folder,)

    @property
    def syncs_flags(self) -> bool:
        return self.protocol is IncomingProtocol.IMAP

    @property
    def mirrors_removals(self) -> bool:
        """S7: `imap` is synchronised (a message removed on the server is marked so in the
        store); `imap_download` is one-way like POP3 and marks nothing."""
        return self.protocol is IncomingProtocol.IMAP


class Mechanism(StrEnum):
    PASSWORD = "password"  # IMAP LOGIN, POP3 USER/PASS
    XOAUTH2 = "xoauth2"  # IMAP AUTHENTICATE XOAUTH2, POP3 AUTH XOAUTH2 with a bearer token (S2)


@dataclass(frozen=True)
class Credentials:
    """What one login sends: the login and its password or access token (never in a repr)."""

    login: str
    secret: str = field(repr=False)
    mechanism: Mechanism = Mechanism.PASSWORD


@dataclass(frozen=True)
class Lease:
    account_id: uuid.UUID
    holder: str
    token: int


@dataclass(frozen=True)
class LastOutcome:
    """What the account's last fetch left behind, as far as deciding on the next one needs."""

    permanent: bool
    config_version: str | None
    reason: str | None
    certificate: str | None = None  # #17: SHA-256 of the certificate a failed verification met


# Given the account and its last outcome, why it must not be fetched now (None: go ahead).
Refusal = Callable[[AccountConfig, LastOutcome | None], str | None]


@dataclass(frozen=True)
class FetchStart:
    """What a fetch run starts from: the account (None: it no longer exists), why it is not
    fetched now, the lease (None with an account and no refusal: another holder has it) and
    where each folder's last sync ended; with a refusal, the last outcome it was decided on."""

    account: AccountConfig | None = None
    refusal: str | None = None
    lease: Lease | None = None
    cursors: Mapping[str, Cursor] = field(default_factory=dict)
    last: LastOutcome | None = None


@dataclass(frozen=True)
class MessageLocation:
    """Where a stored message lives on the IMAP server."""

    id: uuid.UUID
    account_id: uuid.UUID
    folder: str
    uidvalidity: int | None
    uid: int | None


class LeaseLost(Exception):
    """Another replica holds the account's lease now: this fetch must stop writing."""


@dataclass(frozen=True)
class NewMessage:
    """A message downloaded and ready to store: identity, flags and bytes."""

    folder: str
    raw: bytes
    flags: tuple[str, ...] = ()
    uidvalidity: int | None = None
    uid: int | None = None
    uidl: str | None = None
