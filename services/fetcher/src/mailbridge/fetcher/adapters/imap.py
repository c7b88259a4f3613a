"""IMAP over aioimaplib: connect (implicit TLS, STARTTLS or plain), log in, and the few
commands a sync needs, each bounded in size and time.

aioimaplib 2.0 has no STARTTLS call; `_starttls` sends the command and upgrades the transport
with asyncio's `start_tls`. Responses are read by `imap_protocol.FramedProtocol`; answers stay
bounded all the same (a bounded number of messages per command, see `sync_plan.batches`).
"""

import asyncio
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType

from aioimaplib import IMAP4, AioImapException, Command, Response
from mailbridge.common.endpoints import TransportSecurity
from mailbridge.common.imap_text import encode_mailbox, parse_search
from mailbridge.fetcher.adapters.imap_protocol import FramedImap4
from mailbridge.fetcher.failures import permanent, transient
from mailbridge.fetcher.imap_wire import (
    FetchedItem,
    parse_copyuid,
    parse_fetch,
    parse_select,
)
from mailbridge.fetcher.sync_plan import FolderStatus, uid_set

# Every answer stays bounded: commands whose answer has one line per message ask for at most
# this many messages.
LINES_PER_COMMAND = 200


@dataclass(frozen=True)
class ImapEndpoint:
    host: str
    port: int
    security: TransportSecurity
    ssl_context: ssl.SSLContext
    timeout_s: float = 30.0


class ImapMailbox:
    """One logged-in IMAP connection; use as an async context manager."""

    def __init__(self, endpoint: ImapEndpoint) -> None:
        self._endpoint = endpoint
        self._client: IMAP4 | None = None
        self.capabilities: set[str] = set()

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
        return protocol.state in ("AUTH", "SELECTED") and not protocol.connection_closed

    @property
    def client(self) -> IMAP4:
        assert self._client is not None, "connect first"
        return self._client

    async def connect(self) -> None:
        end = self._endpoint
        try:
            implicit = end.security is TransportSecurity.IMPLICIT_TLS
            self._client = FramedImap4(
                end.host, end.port, timeout=end.timeout_s, ssl_context=end.ssl_context if implicit else None
            )
            await self.client.wait_hello_from_server()
            if end.security is TransportSecurity.STARTTLS:
                await self._starttls()
        except ssl.SSLCertVerificationError as error:
            raise permanent(f"TLS certificate of {end.host} not trusted: {error.verify_message}") from error
        except ssl.SSLError as error:
            raise transient(f"TLS handshake with {end.host}:{end.port} failed: {error}") from error
        except (OSError, TimeoutError, AioImapException) as error:
            raise transient(
                f"cannot connect to {end.host}:{end.port}: {error or type(error).__name__}"
            ) from error
        self.capabilities = set(self.client.protocol.capabilities)
        keep_alive(self.client.protocol.transport)

    async def _starttls(self) -> None:
        protocol = self.client.protocol
        if "STARTTLS" not in protocol.capabilities:
            raise permanent(f"{self._endpoint.host} does not offer STARTTLS; refusing to log in in clear")
        response = await protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        _require_ok(response, "STARTTLS")
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            protocol.transport,
            protocol,
            self._endpoint.ssl_context,
            server_hostname=self._endpoint.host,
        )
        protocol.transport = transport
        await protocol.capability()

    async def login(self, user: str, password: str) -> None:
        response = await self._call(self.client.login(user, password), "LOGIN")
        if response.result != "OK":
            raise permanent(f"login as {user} rejected: {_text(response)}")
        await self.client.protocol.capability()
        self.capabilities = set(self.client.protocol.capabilities)

    async def xoauth2(self, user: str, token: str) -> None:
        response = await self._call(self.client.xoauth2(user, token.encode()), "AUTHENTICATE XOAUTH2")
        if response.result != "OK":
            raise permanent(f"OAuth login as {user} rejected: {_text(response)}")

    async def select(self, folder: str) -> FolderStatus:
        condstore = " (CONDSTORE)" if "CONDSTORE" in self.capabilities else ""
        response = await self._call(self.client.select(encode_mailbox(folder) + condstore), "SELECT")
        if response.result != "OK":
            raise permanent(f"folder {folder!r} cannot be opened: {_text(response)}")
        found = parse_select(response.lines)
        if "UIDVALIDITY" not in found:
            raise transient(f"server sent no UIDVALIDITY for {folder!r}")
        return FolderStatus(
            found["UIDVALIDITY"],
            found.get("UIDNEXT"),
            found.get("HIGHESTMODSEQ"),
            found.get("EXISTS", 0),
        )

    async def sizes_after(self, uid: int, uidnext: int | None) -> list[FetchedItem]:
        """UIDs and sizes of the messages above `uid`, asked for in bounded UID ranges."""
        found: list[FetchedItem] = []
        start = uid + 1
        while uidnext is None or start < uidnext:
            end = "*" if uidnext is None else str(min(start + LINES_PER_COMMAND, uidnext) - 1)
            response = await self._fetch(f"{start}:{end}", "(UID RFC822.SIZE)")
            items = [item for item in parse_fetch(response.lines) if item.uid >= start]
            found += items
            if uidnext is None:  # no UIDNEXT: one open range, then stop
                break
            start += LINES_PER_COMMAND
        return found

    async def bodies(self, uids: list[int]) -> list[FetchedItem]:
        """Raw bytes and flags, without setting \\Seen (BODY.PEEK)."""
        response = await self._fetch(uid_set(uids), "(UID FLAGS BODY.PEEK[])")
        return parse_fetch(response.lines)

    async def flags_changed_since(self, modseq: int, up_to_uid: int) -> list[FetchedItem]:
        """Flags of the messages changed since `modseq` (CONDSTORE: UID SEARCH MODSEQ, so an
        unchanged mailbox costs one short answer), else of every message, in bounded chunks."""
        if modseq and "CONDSTORE" in self.capabilities:
            response = await self._call(self.client.uid_search(f"MODSEQ {modseq + 1}"), "SEARCH")
            _require_ok(response, "SEARCH")
            uids = [uid for uid in parse_search(response.lines) if uid <= up_to_uid]
        else:
            uids = list(range(1, up_to_uid + 1))
        found: list[FetchedItem] = []
        for start in range(0, len(uids), LINES_PER_COMMAND):
            chunk = uids[start : start + LINES_PER_COMMAND]
            found += parse_fetch((await self._fetch(uid_set(chunk), "(UID FLAGS)")).lines)
        return found

    async def set_seen(self, uid: int, seen: bool) -> None:
        change = "+FLAGS.SILENT" if seen else "-FLAGS.SILENT"
        response = await self._call(self.client.uid("store", str(uid), change, r"(\Seen)"), "STORE")
        _require_ok(response, "STORE")

    async def move(self, uid: int, folder: str) -> tuple[int, int] | None:
        """MOVE (RFC 6851); returns the new (UIDVALIDITY, UID) when the server says (UIDPLUS)."""
        response = await self._call(self.client.uid("move", str(uid), encode_mailbox(folder)), "MOVE")
        if response.result != "OK":
            raise permanent(f"cannot move message {uid} to {folder!r}: {_text(response)}")
        return parse_copyuid(response.lines)

    async def _fetch(self, message_set: str, parts: str) -> Response:
        response = await self._call(self.client.uid("fetch", message_set, parts), "FETCH")
        _require_ok(response, "FETCH")
        return response

    async def _call(self, command: "asyncio.Future[Response] | object", name: str) -> Response:
        try:
            response = await command  # type: ignore[misc]
        except (OSError, TimeoutError, AioImapException) as error:
            raise transient(f"IMAP {name} failed: {error or type(error).__name__}") from error
        assert isinstance(response, Response)
        return response

    async def close(self) -> None:
        if self._client is None:
            return
        try:
            if self._client.get_state() not in ("LOGOUT", "NONAUTH"):
                await asyncio.wait_for(self._client.logout(), 5)
        except (OSError, TimeoutError, AioImapException):
            pass
        finally:
            transport = self._client.protocol.transport
            if transport is not None:
                transport.close()
            self._client = None


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


def _text(response: Response) -> str:
    parts = [line.decode(errors="replace") for line in response.lines if isinstance(line, bytes)]
    return " ".join(parts)[:300] or response.result


def _require_ok(response: Response, name: str) -> None:
    if response.result != "OK":
        raise transient(f"IMAP {name} answered {response.result}: {_text(response)}")
