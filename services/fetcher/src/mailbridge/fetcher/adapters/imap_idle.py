"""An IMAP connection in IDLE (RFC 2177, #18), on the fetcher's own client (`ImapMailbox` over
`imap_protocol.FramedProtocol`): the same connect, TLS, login and bounds as a fetch.

IDLE runs as aioimaplib's `IdleCommand` (its `idle()`): the server's untagged lines while idling
arrive on the protocol's `idle_queue`, a `+` continuation says IDLE has begun, and `idle_done()`
sends DONE, after which the server ends the command with its tagged OK. aioimaplib's own
`idle_start`/`wait_server_push` are not used: they time out by a task per IDLE and never notice
a dropped connection (the queue just stays empty), whereas here the IDLE command itself is
awaited beside the queue: `FramedProtocol.abort` (the server gone, a deadline) fails it at once.

After the first EXISTS, further lines are collected for `SETTLE_S` more, so a burst of
deliveries is one answer (the highest message count).
"""

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from aioimaplib import AioImapException, Response
from mailbridge.common.connection_slots import held_slot
from mailbridge.common.endpoints import Endpoint
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.fetcher.adapters.imap import ImapMailbox
from mailbridge.fetcher.adapters.imap_deadline import deadline
from mailbridge.fetcher.adapters.imap_failures import text
from mailbridge.fetcher.failures import FetchFailure, transient
from mailbridge.fetcher.model import AccountConfig, Credentials
from mailbridge.fetcher.sync_plan import FolderStatus

SETTLE_S = 0.05
TLS_READ_SIZE = 16 * 1024  # a TLS record's most
END_S = 5.0  # at most this long for DONE's answer when a connection is given up
_EXISTS = re.compile(rb"^(\d+) EXISTS\b", re.IGNORECASE)


def exists_count(lines: list[bytes]) -> int | None:
    """The highest message count among untagged lines (`N EXISTS`, without the `* `), or None."""
    counts = [int(m.group(1)) for line in lines if isinstance(line, bytes) and (m := _EXISTS.match(line))]
    return max(counts) if counts else None


class IdleMailbox:
    """One logged-in connection that waits in IDLE on a selected folder."""

    def __init__(self, mailbox: ImapMailbox, timeout_s: float) -> None:
        self._mailbox, self._timeout_s = mailbox, timeout_s
        self._idle: asyncio.Future[Response] | None = None
        self._since = 0.0

    @property
    def offers_idle(self) -> bool:
        return "IDLE" in {word.upper() for word in self._mailbox.capabilities}

    async def watch(self, folder: str) -> int | None:
        status: FolderStatus = await self._mailbox.select(folder)
        protocol = self._mailbox.client.protocol
        protocol.shrink_buffers()  # what IDLE brings are short lines
        small_tls_reads(protocol.transport)
        return status.uidnext

    async def new_mail(self, reissue_s: float) -> int:
        """Wait in IDLE until an EXISTS arrives (its message count); DONE and IDLE again every
        `reissue_s`; a lost connection or a refused IDLE raises a transient `FetchFailure`."""
        protocol = self._mailbox.client.protocol
        while True:
            if self._idle is None:
                await self._begin()
            assert self._idle is not None
            remaining = self._since + reissue_s - time.monotonic()
            if remaining <= 0:
                await self._done()
                continue
            lines = await self._next_lines(protocol.idle_queue, self._idle, remaining)
            count = None if lines is None else exists_count(lines)
            if count is None:
                continue
            await asyncio.sleep(SETTLE_S)  # the rest of a burst
            while not protocol.idle_queue.empty():
                more = exists_count(protocol.idle_queue.get_nowait())
                count = max(count, more or 0)
            return count

    async def _begin(self) -> None:
        protocol = self._mailbox.client.protocol
        idle = asyncio.ensure_future(protocol.idle())
        idle.add_done_callback(_retrieved)
        begun = asyncio.ensure_future(protocol.wait_for_idle_response())
        try:
            async with deadline(self._timeout_s, self._abort, "IDLE"):
                await asyncio.wait({idle, begun}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            begun.cancel()
        if idle.done():
            raise transient(f"the server ended IDLE at once: {_said(idle)}")
        self._idle, self._since = idle, time.monotonic()

    async def _next_lines(
        self, queue: "asyncio.Queue[list[bytes]]", idle: "asyncio.Future[Response]", seconds: float
    ) -> list[bytes] | None:
        """The next lines the server sent while idling, or None when `seconds` passed first."""
        get = asyncio.ensure_future(queue.get())
        try:
            await asyncio.wait({get, idle}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not get.done():
                get.cancel()
        if get.done() and not get.cancelled():
            return get.result()
        if idle.done():
            self._idle = None
            raise transient(f"the IDLE connection ended: {_said(idle)}")
        return None

    async def _done(self, seconds: float | None = None) -> None:
        """DONE, and the server's tagged answer to the IDLE it ends."""
        idle, self._idle = self._idle, None
        if idle is None or idle.done():  # never begun, or the connection is gone already
            return
        self._mailbox.client.protocol.idle_done()
        async with deadline(seconds or self._timeout_s, self._abort, "DONE"):
            await asyncio.wait({idle})
        if idle.exception() is not None or idle.result().result != "OK":
            raise transient(f"the server did not end IDLE cleanly: {_said(idle)}")

    async def end(self) -> None:
        """DONE before the connection is closed (a server answers no LOGOUT while idling)."""
        with suppress(FetchFailure, AioImapException, OSError):
            await self._done(min(self._timeout_s, END_S))

    def _abort(self, reason: str) -> None:
        self._mailbox.client.protocol.abort(reason)


def small_tls_reads(transport: object, size: int = TLS_READ_SIZE) -> None:
    """asyncio's TLS transport reads into a buffer of its own, 256 KB per connection (its
    `SSLProtocol.max_size`), most of a waiting connection's memory (measured: about 320 MB per
    thousand IDLE connections with it, 110 MB with 16 KB). This connection's reads are made
    `size` bytes at most. It reaches into asyncio's TLS protocol (CPython 3.11+), so it changes
    nothing where those attributes are not there."""
    tls = getattr(transport, "_ssl_protocol", None)
    if tls is None or not all(hasattr(tls, name) for name in ("max_size", "_ssl_buffer", "_ssl_buffer_view")):
        return
    tls.max_size = size
    tls._ssl_buffer = bytearray(size)
    tls._ssl_buffer_view = memoryview(tls._ssl_buffer)


def _retrieved(idle: "asyncio.Future[Response]") -> None:
    """The IDLE command's failure is read by whoever waits on it, or nobody: never logged as lost."""
    if not idle.cancelled():
        idle.exception()


def _said(idle: "asyncio.Future[Response]") -> str:
    error = idle.exception()
    if error is not None:
        return str(error)
    return text(idle.result())


class ImapIdleConnections:
    """Opens `IdleMailbox`es: a new connection each, never one of the fetch's kept ones.

    With `limits` (#17) each holds one of its login's IMAP slots shared by every replica, as a
    fetch's connection does (`common.connection_slots`), given back once it is closed; it leaves
    the login's last slot to fetches (an IDLE connection holds its slot for hours): when that
    slot is all that is free, the connection is not opened (transient: the holder tries again
    later, and the schedule still fetches the account)."""

    def __init__(
        self, ssl_context: ssl.SSLContext, timeout_s: float, limits: SharedLimits | None = None
    ) -> None:
        self._ssl_context, self._timeout_s, self._limits = ssl_context, timeout_s, limits

    @asynccontextmanager
    async def logged_in(self, account: AccountConfig, credentials: Credentials) -> AsyncIterator[IdleMailbox]:
        endpoint = Endpoint(account.host, account.port, account.security, self._ssl_context, self._timeout_s)
        limit = account.imap_connections_per_login
        slot = held_slot(
            self._limits, "imap", account.host, account.port, credentials.login,
            None if limit is None else limit - 1, refused=lambda _: transient(idle_refused(account, limit)),
        )  # fmt: skip
        async with slot:
            mailbox = ImapMailbox(endpoint)
            try:
                await mailbox.open(credentials)
                idle = IdleMailbox(mailbox, self._timeout_s)
                try:
                    yield idle
                finally:
                    await idle.end()
            finally:
                await mailbox.close()


def idle_refused(account: AccountConfig, limit: int | None) -> str:
    return (
        f"no IDLE connection now: of the {limit} IMAP connections {account.host}:{account.port} allows "
        f"{account.login} (imap_connections_per_login, every replica together, #17) at most the one IDLE "
        "leaves to fetches is free"
    )
