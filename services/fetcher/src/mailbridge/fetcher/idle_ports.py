"""The interfaces IMAP IDLE push (#18, `idle_holder`) works through; adapters implement them
(`adapters/idle_leases`, `adapters/imap_idle`, `adapters/push_requests`), `main` wires them in,
unit tests fake them."""

import uuid
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from mailbridge.fetcher.model import AccountConfig, Credentials


@dataclass(frozen=True)
class Candidate:
    """An account that may be pushed (an IMAP account of a server with `push` on, allowed to
    receive) whose IDLE lease nobody else holds; `config_version` changes with its configuration."""

    account_id: uuid.UUID
    config_version: str


@dataclass(frozen=True)
class Census:
    """The replicas holding IDLE connections now (this one included) and the accounts that may
    be pushed: each replica's share is `accounts / replicas`."""

    replicas: int
    accounts: int


class IdleLeases(Protocol):
    """Who holds which account's IDLE connection: one replica per account, for a TTL at a time."""

    async def census(self, holder: str, ttl: timedelta) -> Census:
        """`holder` seen now; the replicas seen within `ttl` and the accounts that may be pushed."""
        ...

    async def leave(self, holder: str) -> None: ...
    async def candidates(self, limit: int) -> list[Candidate]: ...
    async def pushable(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Those of `account_ids` that may still be pushed, with their configuration's version."""
        ...

    async def account(self, account_id: uuid.UUID) -> AccountConfig | None: ...
    async def take(self, account_id: uuid.UUID, holder: str, ttl: timedelta) -> bool: ...
    async def renew(
        self, holder: str, account_ids: Collection[uuid.UUID], ttl: timedelta
    ) -> set[uuid.UUID]: ...
    async def release(self, holder: str, account_ids: Collection[uuid.UUID]) -> None: ...


class IdleSession(Protocol):
    """A logged-in IMAP connection that can wait in IDLE on one folder."""

    @property
    def offers_idle(self) -> bool: ...

    async def watch(self, folder: str) -> int | None:
        """SELECT the folder; its UIDNEXT (None when the server sends none)."""
        ...

    async def new_mail(self, reissue_s: float) -> int:
        """Wait in IDLE until the server announces a new message (EXISTS; its message count),
        ending and re-issuing IDLE every `reissue_s`; a dropped connection raises a `FetchFailure`."""
        ...


class IdleConnector(Protocol):
    def logged_in(
        self, account: AccountConfig, credentials: Credentials
    ) -> AbstractAsyncContextManager[IdleSession]: ...


class FetchRequests(Protocol):
    async def push(self, account_id: uuid.UUID, msg_id: str) -> None:
        """Publish FetchRequested(reason=push) under `msg_id` (JetStream drops a repeat)."""
        ...
