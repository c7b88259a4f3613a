"""Logged-in IMAP connections kept between fetches, so a poll that finds nothing new costs one
SELECT instead of a TCP connect, a TLS handshake and a LOGIN.

A kept connection belongs to one account and is handed out again only for the same endpoint,
login and password (compared by digest): a changed configuration or password logs in afresh, and
the old connection is closed. An OAuth account's connection is keyed without its token (S2): a
token lives an hour and the next fetch brings a new one, which a logged-in connection does not
need; a connection whose login was refused was never kept. Only a connection whose fetch ended
without an error is kept; one the server has closed meanwhile is dropped when it is next asked
for. Connections idle longer than `idle_s` are closed (`close_idle`), and at most `keep` are
kept (the longest idle goes first). `keep=0` keeps none.

At most `per_server` of them are kept to one server (host and port; 0: no such bound), the
longest idle of that server going first: every kept connection is a session the server holds
for us, and a server bounds its sessions in all (Dovecot's imap service: 100 processes by
default, `default_process_limit`, shared with people's own mail programs). Without this bound
one fetcher's `keep` connections to a server hosting many of the accounts could take them all.

With `limits` (#17) each connection holds a slot of its server and login shared by every fetcher
and sender replica (`common.shared_limits`, `imap_connections_per_login` of the server's provider
limits, e.g. about 20 for a Microsoft 365 mailbox): a login whose slots are all taken is not
connected; the fetch fails as transient and comes again with backoff. The slot is given back
when the connection closes.
"""

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from mailbridge.common.connection_slots import NoConnectionSlot, slot_key
from mailbridge.common.endpoints import Endpoint
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.failures import transient
from mailbridge.fetcher.model import AccountConfig, Credentials, Mechanism


@dataclass(frozen=True)
class LoginKey:
    host: str
    port: int
    security: str
    login: str
    password_sha256: str = field(repr=False)  # "" for XOAUTH2: a new token is no new login
    mechanism: Mechanism = Mechanism.PASSWORD


def login_key(endpoint: Endpoint, credentials: Credentials) -> LoginKey:
    oauth = credentials.mechanism is Mechanism.XOAUTH2
    digest = "" if oauth else hashlib.sha256(credentials.secret.encode()).hexdigest()
    return LoginKey(
        endpoint.host, endpoint.port, str(endpoint.security), credentials.login, digest, credentials.mechanism
    )


@dataclass
class _Kept:
    key: LoginKey
    mailbox: ImapMailbox
    since: float


class ImapConnections:
    def __init__(
        self, keep: int = 0, idle_s: float = 300.0, clock: Callable[[], float] = time.monotonic,
        limits: SharedLimits | None = None, per_server: int = 0,
    ) -> None:  # fmt: skip
        self._keep, self._idle_s, self._clock, self._limits = keep, idle_s, clock, limits
        self._per_server = per_server
        self._kept: OrderedDict[uuid.UUID, _Kept] = OrderedDict()  # oldest first
        self._slots: dict[int, tuple[str, str]] = {}  # id(mailbox) → its shared slot (#17)

    @asynccontextmanager
    async def logged_in(
        self, account: AccountConfig, endpoint: Endpoint, credentials: Credentials
    ) -> AsyncIterator[ImapMailbox]:
        """A connection logged in as the account (a kept one when it still fits), kept again
        afterwards unless the block raised."""
        account_id, key = account.account_id, login_key(endpoint, credentials)
        mailbox = await self._reusable(account_id, key)
        if mailbox is None:
            mailbox = ImapMailbox(endpoint)
            await self._take_slot(mailbox, key, account.imap_connections_per_login)
            try:
                await mailbox.open(credentials)
            except BaseException:
                await self._close(mailbox)
                raise
        try:
            yield mailbox
        except BaseException:
            await self._close(mailbox)
            raise
        await self._keep_for_later(account_id, key, mailbox)

    async def close_idle(self) -> None:
        deadline = self._clock() - self._idle_s
        for account_id in [a for a, kept in self._kept.items() if kept.since <= deadline]:
            await self._close(self._kept.pop(account_id).mailbox)

    async def close_all(self) -> None:
        while self._kept:
            await self._close(self._kept.popitem(last=False)[1].mailbox)

    async def _reusable(self, account_id: uuid.UUID, key: LoginKey) -> ImapMailbox | None:
        kept = self._kept.pop(account_id, None)
        if kept is None:
            return None
        fresh = self._clock() - kept.since < self._idle_s
        if kept.key == key and fresh and kept.mailbox.usable:
            return kept.mailbox
        await self._close(kept.mailbox)
        return None

    async def _keep_for_later(self, account_id: uuid.UUID, key: LoginKey, mailbox: ImapMailbox) -> None:
        if self._keep <= 0 or not mailbox.usable:
            await self._close(mailbox)
            return
        self._kept[account_id] = _Kept(key, mailbox, self._clock())
        if self._per_server > 0:
            server = (key.host, key.port)
            same = [a for a, kept in self._kept.items() if (kept.key.host, kept.key.port) == server]
            for oldest in same[: max(0, len(same) - self._per_server)]:  # `_kept` is oldest first
                await self._close(self._kept.pop(oldest).mailbox)
        while len(self._kept) > self._keep:
            await self._close(self._kept.popitem(last=False)[1].mailbox)

    async def _take_slot(self, mailbox: ImapMailbox, key: LoginKey, limit: int | None) -> None:
        if self._limits is None or limit is None:  # no limit: nothing to count, no NATS round trip
            return
        slots = slot_key("imap", key.host, key.port, key.login)
        slot = await self._limits.take_slot(slots, limit)
        if slot is None:
            raise transient(NoConnectionSlot("imap", key.host, key.port, key.login, limit).reason)
        self._slots[id(mailbox)] = (slots, slot)

    async def _close(self, mailbox: ImapMailbox) -> None:
        try:
            await mailbox.close()
        finally:
            held = self._slots.pop(id(mailbox), None)
            if held is not None and self._limits is not None:
                await self._limits.give_back(*held)
