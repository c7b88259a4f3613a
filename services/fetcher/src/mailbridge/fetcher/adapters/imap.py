"""IMAP over aioimaplib: connect (implicit TLS, STARTTLS or plain), log in, and the few
commands a sync needs, each bounded in size and time.

aioimaplib 2.0 has no STARTTLS call; `_starttls` sends the command and upgrades the transport
with asyncio's `start_tls`. Responses are read by `imap_protocol.FramedProtocol`; answers stay
bounded all the same (a bounded number of messages per command, see `sync_plan.batches`).

Time: every step runs under `imap_deadline.deadline` (the endpoint's timeout; connect and login
together twice that; a body FETCH longer in proportion to its bytes). Size: a body FETCH tells
the protocol what its answer may bring (`_room` of each announced size). Greeting, CAPABILITY
and LOGIN are our own commands: aioimaplib's would wait under its state lock, send the login
unquoted and raise ValueError for a line break. Every failure leaves as a `FetchFailure`.

OAuth (S2): `AUTHENTICATE XOAUTH2` instead of LOGIN (`imap_xoauth2`, our own framing, since
aioimaplib's `xoauth2` hangs on a refused token).

UTF-8 (RFC 6855, #11): after LOGIN or AUTHENTICATE, `ENABLE UTF8=ACCEPT` where CAPABILITY offers it. Once the
server says ENABLED, mailbox names go out as UTF-8 quoted strings instead of modified UTF-7
(`wire_name`); the fetcher's folder names (and so the store's) are the same
Unicode strings either way. A server that refuses ENABLE is used as it is.
"""

import asyncio
import socket
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from aioimaplib import IMAP4, AioImapException, Command, Response
from mailbridge.common.endpoints import Endpoint, HostPort, TransportSecurity
from mailbridge.common.imap_text import encode_mailbox, parse_search, quoted
from mailbridge.fetcher.adapters import imap_changes, imap_xoauth2
from mailbridge.fetcher.adapters.imap_deadline import body_deadline_s, deadline
from mailbridge.fetcher.adapters.imap_failures import failures, refusal, require_ok, text
from mailbridge.fetcher.adapters.imap_protocol import FramedImap4
from mailbridge.fetcher.failures import Kind, not_selectable, permanent, transient
from mailbridge.fetcher.imap_wire import (
    FetchedItem,
    enabled,
    listed_noselect,
    parse_fetch,
    parse_select,
)
from mailbridge.fetcher.model import Credentials, Mechanism
from mailbridge.fetcher.sync_plan import FolderStatus, Pending, uid_set

# Every answer stays bounded: commands whose answer has one line per message ask for at most
# this many messages.
LINES_PER_COMMAND = 200


class ImapMailbox:
    """One logged-in IMAP connection; use as an async context manager."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._client: IMAP4 | None = None
        self.capabilities: set[str] = set()
        self.utf8_accept = False  # ENABLE UTF8=ACCEPT done: mailbox names in UTF-8

    async def __aenter__(self) -> "ImapMailbox":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def usable(self) -> bool:
        """Logged in and still connected (a server closes idle connections in time)."""
        if self._client is None:
            return False
        protocol = self._client.protocol
        alive = not protocol.connection_closed and protocol.failure is None
        return alive and protocol.state in ("AUTH", "SELECTED")

    @property
    def client(self) -> IMAP4:
        assert self._client is not None, "connect first"
        return self._client

    async def open(self, credentials: Credentials) -> None:
        """Connect and log in, each step within the timeout and all of it within twice that."""
        end = self._endpoint
        async with (
            self._failures(f"cannot connect to {end.host}:{end.port}"),
            deadline(2 * end.timeout_s, self._abort, "connecting and logging in"),
        ):
            await self.connect()
            if credentials.mechanism is Mechanism.XOAUTH2:
                await self.xoauth2(credentials.login, credentials.secret)
            else:
                await self.login(credentials.login, credentials.secret)

    async def connect(self) -> None:
        end = self._endpoint
        async with self._failures(f"cannot connect to {end.host}:{end.port}"):
            implicit = end.security is TransportSecurity.IMPLICIT_TLS
            self._client = FramedImap4(
                end.host, end.port, timeout=end.timeout_s, ssl_context=end.tls_context() if implicit else None
            )
            async with self._step("connecting"):
                await self.client._client_task
            async with self._step("the greeting"):
                await self.client.protocol.greeting
            async with self._step("CAPABILITY"):
                await self.client.protocol.capability()
            if end.security is TransportSecurity.STARTTLS:
                await self._starttls()
        self.capabilities = set(self.client.protocol.capabilities)
        keep_alive(self.client.protocol.transport)

    async def _starttls(self) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise permanent(f"{self._endpoint.host} does not offer STARTTLS; refusing to log in in clear")
        async with self._step("STARTTLS"):
            response = await protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        require_ok(response, "STARTTLS")
        loop = asyncio.get_running_loop()
        async with self._step("the TLS handshake"):
            protocol.transport = await loop.start_tls(
                protocol.transport,
                protocol,
                self._endpoint.tls_context(),
                server_hostname=self._endpoint.host,
            )
        async with self._step("CAPABILITY"):
            await protocol.capability()

    async def login(self, user: str, password: str) -> None:
        """LOGIN with both strings quoted (RFC 3501 §4.3), so spaces, quotes and backslashes in
        either arrive as they are; a line break or NUL cannot be sent at all."""
        if not sendable(user) or not sendable(password):
            raise permanent("the login or password contains a line break or NUL, which IMAP cannot send")
        protocol = self.client.protocol
        command = Command("LOGIN", protocol.new_tag(), quoted(user), quoted(password), loop=protocol.loop)
        response = await self.call(protocol.execute(command, scrub=quoted(password)), "LOGIN")
        if response.result != "OK":  # throttled, or a wrong password (#11: `refusal` tells them apart)
            raise refusal(response, f"login as {user} rejected")
        await self.logged_in()

    async def xoauth2(self, user: str, token: str) -> None:
        """AUTHENTICATE XOAUTH2 (S2, `imap_xoauth2`); TokenRejected when the server refuses the token."""
        await imap_xoauth2.authenticate(self, user, token)
        await self.logged_in()

    async def logged_in(self) -> None:
        """After LOGIN or AUTHENTICATE: the capabilities again (they may grow), then UTF-8."""
        protocol = self.client.protocol
        protocol.state = "AUTH"
        async with self._failures("IMAP CAPABILITY failed"), self._step("CAPABILITY"):
            await protocol.capability()
        self.capabilities = set(protocol.capabilities)
        await self._enable_utf8()

    async def _enable_utf8(self) -> None:
        offered = {name.upper() for name in self.capabilities}
        if {"ENABLE", "UTF8=ACCEPT"} <= offered:
            response = await self.call(self.client.enable("UTF8=ACCEPT"), "ENABLE")
            self.utf8_accept = response.result == "OK" and enabled(response.lines, "UTF8=ACCEPT")

    async def select(self, folder: str) -> FolderStatus:
        condstore = " (CONDSTORE)" if "CONDSTORE" in self.capabilities else ""
        response = await self.call(self.client.select(self.wire_name(folder) + condstore), "SELECT")
        if response.result != "OK":
            failure = refusal(response, f"folder {folder!r} cannot be opened")
            if failure.kind is Kind.PERMANENT and await self._noselect(folder):
                raise not_selectable(f"folder {folder!r} holds no messages (\\Noselect): {text(response)}")
            raise failure
        found = parse_select(response.lines)
        if "UIDVALIDITY" not in found:
            raise transient(f"server sent no UIDVALIDITY for {folder!r}")
        return FolderStatus(
            found["UIDVALIDITY"],
            found.get("UIDNEXT"),
            found.get("HIGHESTMODSEQ"),
            found.get("EXISTS", 0),
        )

    async def _noselect(self, folder: str) -> bool:
        """Whether LIST shows `folder`, named as SELECT named it, as \\Noselect."""
        response = await self.call(self.client.list('""', self.wire_name(folder)), "LIST")
        return response.result == "OK" and listed_noselect(response.lines, self.wire_name(folder))

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        """UIDs and sizes of the messages above `uid`, asked for in bounded UID ranges."""
        found: list[FetchedItem] = []
        start = uid + 1
        while uidnext is None or start < uidnext:
            end = "*" if uidnext is None else str(min(start + LINES_PER_COMMAND, uidnext) - 1)
            response = await self.fetch(f"{start}:{end}", "(UID RFC822.SIZE)")
            items = [item for item in parse_fetch(response.lines) if item.uid >= start]
            found += items
            if uidnext is None:  # no UIDNEXT: one open range, then stop
                break
            start += LINES_PER_COMMAND
        return found

    async def bodies(self, batch: list[Pending]) -> list[FetchedItem]:
        """Raw bytes and flags, without setting \\Seen (BODY.PEEK). The answer may bring what the
        announced sizes say (with room for a server that counts a little differently), no more:
        a larger literal is refused before it is allocated, and the connection is given up."""
        largest = max(_room(p.size) for p in batch)
        expected = sum(_room(p.size) for p in batch)
        self.client.protocol.expect_next(largest, expected)
        seconds = body_deadline_s(self._endpoint.timeout_s, expected)
        response = await self.fetch(uid_set([p.uid for p in batch]), "(UID FLAGS BODY.PEEK[])", seconds)
        return parse_fetch(response.lines)

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        """Flags of the messages changed since `modseq` (CONDSTORE: UID SEARCH MODSEQ, so an
        unchanged mailbox costs one short answer), else of every message, in bounded chunks."""
        if modseq and "CONDSTORE" in self.capabilities:
            response = await self.call(self.client.uid_search(f"MODSEQ {modseq + 1}"), "SEARCH")
            require_ok(response, "SEARCH")
            uids = [uid for uid in parse_search(response.lines) if uid <= up_to_uid]
        else:
            uids = list(range(1, up_to_uid + 1))
        found: list[FetchedItem] = []
        for start in range(0, len(uids), LINES_PER_COMMAND):
            chunk = uids[start : start + LINES_PER_COMMAND]
            found += parse_fetch((await self.fetch(uid_set(chunk), "(UID FLAGS)")).lines)
        return found

    async def uids_up_to(self, last_uid: int) -> list[int]:
        """The UIDs from 1 to `last_uid` that the folder holds (UID SEARCH UID 1:n, S7 removals;
        one number per message, well within the framer's line limit). An untagged EXISTS or
        EXPUNGE arriving with the answer can only add a number, never hide one."""
        search = self.client.uid_search("UID", f"1:{last_uid}", charset=None)
        response = await self.call(search, "SEARCH")
        require_ok(response, "SEARCH")
        return [uid for uid in parse_search(response.lines) if uid <= last_uid]

    async def set_seen(self, uid: int, seen: bool) -> None:
        await imap_changes.set_seen(self, uid, seen)

    async def move(self, uid: int, folder: str) -> tuple[int, int] | None:
        """Move message `uid` of the selected folder to `folder` (`imap_changes.move`)."""
        return await imap_changes.move(self, uid, folder)

    def wire_name(self, name: str) -> str:
        """A mailbox name as a command argument: a UTF-8 quoted string once UTF8=ACCEPT is
        enabled (RFC 6855 §3), else modified UTF-7 (RFC 3501 §5.1.3)."""
        return quoted(name) if self.utf8_accept else encode_mailbox(name)

    async def fetch(self, message_set: str, parts: str, seconds: float | None = None) -> Response:
        response = await self.call(self.client.uid("fetch", message_set, parts), "FETCH", seconds)
        require_ok(response, "FETCH")
        return response

    async def call(self, command: Awaitable[Response], name: str, seconds: float | None = None) -> Response:
        async with self._failures(f"IMAP {name} failed"), self._step(name, seconds):
            return await command

    def _step(self, what: str, seconds: float | None = None) -> AbstractAsyncContextManager[None]:
        return deadline(seconds or self._endpoint.timeout_s, self._abort, what)

    def _abort(self, reason: str) -> None:
        if self._client is not None:
            self._client.protocol.abort(reason)

    def _failures(self, doing: str) -> AbstractAsyncContextManager[None]:
        where = str(HostPort(self._endpoint.host, self._endpoint.port))
        return failures(doing, where, self._endpoint.timeout_s)

    async def close(self) -> None:
        """LOGOUT when the connection is still good (briefly); else just drop it."""
        if self._client is None:
            return
        client, self._client = self._client, None
        try:
            if client.protocol.failure is None and client.get_state() in ("AUTH", "SELECTED"):
                abort = client.protocol.abort
                async with deadline(min(5.0, self._endpoint.timeout_s), abort, "LOGOUT"):
                    await client.protocol.logout()
        except (OSError, TimeoutError, AioImapException):
            pass
        finally:
            client.protocol.abort("closed")


def keep_alive(transport: asyncio.BaseTransport) -> None:
    """TCP keepalives on an idle connection keep middleboxes from forgetting it and tell us when
    the server is gone (the connection is then lost, not left hanging)."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 20), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def sendable(text: str) -> bool:
    """Whether a quoted string can carry `text` (RFC 3501 §9: no CR, LF or NUL in one)."""
    return not any(c in text for c in "\r\n\x00")


def _room(size: int) -> int:
    """What a message announced as `size` bytes may really bring (servers count differently)."""
    return 2 * size + 64 * 1024
