"""The interfaces the fetch use-cases need; adapters implement them, unit tests fake them."""

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from mailbridge.fetcher.imap_wire import FetchedItem
from mailbridge.fetcher.model import AccountConfig, Lease, NewMessage
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


class Pop3Session(Protocol):
    async def listing(self) -> list[Listed]: ...
    async def retrieve(self, number: int, max_bytes: int) -> bytes: ...
    async def header_block(self, number: int, max_bytes: int) -> bytes | None: ...
    async def delete_and_quit(self, numbers: list[int]) -> None: ...


class Store(Protocol):
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
    async def deletable_uidls(self, account: AccountConfig, on_server: set[str]) -> list[str]: ...


Heartbeat = Callable[[], Awaitable[None]]
