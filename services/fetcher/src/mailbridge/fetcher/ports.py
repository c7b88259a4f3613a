"""The interfaces the fetch use-cases need (`fetch_account`, `changes`, `sync`); adapters
implement them (`adapters/`), `main` wires them in, unit tests fake them. A use-case imports no
adapter."""

import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from mailbridge.common.endpoints import Endpoint, IncomingProtocol
from mailbridge.common.oauth_requests import TokenReply
from mailbridge.fetcher.fetch_record import FetchRecord
from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import (
    AccountConfig,
    Credentials,
    FetchStart,
    Lease,
    MessageLocation,
    NewMessage,
    Refusal,
)
from mailbridge.fetcher.pop3_wire import Listed
from mailbridge.fetcher.removals import Reconciled
from mailbridge.fetcher.summary import Summary
from mailbridge.fetcher.sync_plan import Cursor, FolderStatus, Pending


class ImapSession(Protocol):
    async def select(self, folder: str) -> FolderStatus: ...
    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]: ...
    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]: ...
    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]: ...
    async def uids_up_to(self, last_uid: int) -> list[int]: ...


class ImapConnection(ImapSession, Protocol):
    """A logged-in IMAP session that also changes messages on the server (`changes`)."""

    async def set_seen(self, uid: int, seen: bool) -> None: ...
    async def move(self, uid: int, folder: str) -> tuple[int, int] | None: ...


class ImapConnector(Protocol):
    """Hands out an IMAP connection logged in as the account (maybe one kept from before, then
    without using `credentials`); a refused token raises `TokenRejected`."""

    def logged_in(
        self, account: AccountConfig, endpoint: Endpoint, credentials: Credentials
    ) -> AbstractAsyncContextManager[ImapConnection]: ...


class Pop3Session(Protocol):
    async def listing(self) -> list[Listed]: ...
    async def retrieve(self, number: int, max_bytes: int) -> bytes: ...
    async def header_block(self, number: int, max_bytes: int) -> bytes | None: ...
    async def delete_and_quit(self, numbers: list[int]) -> None: ...


class Pop3Connector(Protocol):
    """Opens a POP3 session logged in as the account, closed (without QUIT) when the block ends;
    a refused token raises `TokenRejected`."""

    def logged_in(
        self, account: AccountConfig, endpoint: Endpoint, credentials: Credentials
    ) -> AbstractAsyncContextManager[Pop3Session]: ...


class CertificateReader(Protocol):
    """The SHA-256 fingerprint (`certificate_hold.fingerprint`) of the certificate a server
    presents, read without verifying it: connect, TLS (implicit, or after the protocol's STARTTLS
    or STLS) and close, never a login; None when it cannot be read within the endpoint's timeout."""

    async def presented(self, endpoint: Endpoint, protocol: IncomingProtocol) -> str | None: ...


class TokenSource(Protocol):
    """Access tokens for XOAUTH2 from the OAuth broker (S2, O4). `rejected`: the fingerprint of a
    token the mail server refused (`token_fingerprint`), so the broker refreshes once."""

    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply: ...


class Store(Protocol):
    async def load_account(self, account_id: uuid.UUID) -> AccountConfig | None: ...
    async def begin_fetch(
        self, account_id: uuid.UUID, holder: str, ttl: timedelta, refuse: Refusal
    ) -> FetchStart: ...
    async def end_fetch(self, lease: Lease, outcome: FetchRecord | None) -> None: ...
    async def acquire_lease(self, account_id: uuid.UUID, holder: str, ttl: timedelta) -> Lease | None: ...
    async def renew_lease(self, lease: Lease, ttl: timedelta) -> None: ...
    async def release_lease(self, lease: Lease) -> None: ...
    async def message_location(self, message_id: uuid.UUID) -> MessageLocation | None: ...
    async def moved(
        self,
        lease: Lease,
        ttl: timedelta,
        message_id: uuid.UUID,
        folder: str,
        uidvalidity: int | None,
        uid: int | None,
    ) -> None: ...
    async def store_batch(
        self,
        lease: Lease,
        ttl: timedelta,
        account: AccountConfig,
        messages: list[NewMessage],
        cursor: tuple[str, Cursor] | None = None,
        summaries: list[Summary] | None = None,
    ) -> int: ...
    async def update_flags(
        self,
        lease: Lease,
        ttl: timedelta,
        account: AccountConfig,
        folder: str,
        changes: list[tuple[int, tuple[str, ...]]],
        cursor: Cursor,
    ) -> int: ...
    async def reset_folder(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, folder: str, old: int, new: int
    ) -> None: ...
    async def count_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> int: ...
    async def uids_on_server(self, account_id: uuid.UUID, folder: str, uidvalidity: int) -> list[int]: ...
    async def mark_removed(
        self,
        lease: Lease,
        ttl: timedelta,
        account: AccountConfig,
        folder: str,
        uidvalidity: int,
        gone: list[int],
        reconciled: Reconciled,
    ) -> int: ...
    async def known_uidls(self, account_id: uuid.UUID) -> set[str]: ...
    async def stored_under_subjects(
        self, account_id: uuid.UUID, uidls: set[str], subjects: set[str]
    ) -> list[tuple[str, bytes]]: ...
    async def replace_stand_in(
        self, lease: Lease, ttl: timedelta, account: AccountConfig, message: NewMessage
    ) -> int: ...
    async def first_seen(self, account_id: uuid.UUID, uidls: set[str]) -> dict[str, datetime]: ...


Heartbeat = Callable[[], Awaitable[None]]
