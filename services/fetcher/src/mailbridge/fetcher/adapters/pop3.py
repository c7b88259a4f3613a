"""POP3 through the standard library's poplib (bounded, `pop3_client`), run in a worker thread.

Deletion is two-phase by protocol: DELE marks, QUIT commits (RFC 1939 §6). The session only
marks messages the caller names, and the caller names only messages already committed to the
store, so a crash anywhere before QUIT deletes nothing; a failed step drops the connection
without QUIT, which deletes nothing either.

Every step (greeting, CAPA, STLS, login, LIST/UIDL, RETR, DELE/QUIT) runs under a watchdog
in the event loop: it must finish within the timeout plus the time its bytes take at a
crawling `MIN_RATE`, else the connection is cut. A silent server fails after the timeout, a
trickling one shortly after, and a large message on a slow but working link still arrives.
Whatever goes wrong ends as a FetchFailure whose reason names the step and the server
(`pop3_reasons`); login and password never reach the wire with a control character in them.

OAuth (S2): `AUTH XOAUTH2` (RFC 5034) in the two-step form, since the SASL string is longer than
a POP3 command line may be: the command, the server's empty `+` challenge, the SASL string; a
refused token gets the server's error challenge, which is answered with an empty line, and then
the `-ERR`, which raises `TokenRejected` quoting it.

UTF8 (RFC 6856) is sent before USER whenever CAPA offers it: Courier hands a client that has not
sent it a made-up stand-in for every message with 8-bit headers (`stand_ins`). A server that
refuses it (-ERR) is used as it is; `utf8` says which. UIDL and TOP are optional (RFC 1939 §7): a
server that refuses UIDL lists messages without one, and `header_block` is None without TOP.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from mailbridge.common.connection_slots import held_slot
from mailbridge.common.endpoints import Endpoint, TransportSecurity
from mailbridge.common.shared_limits import SharedLimits
from mailbridge.common.xoauth2 import error_challenge, initial_response
from mailbridge.fetcher.adapters.pop3_client import Client, Line
from mailbridge.fetcher.adapters.pop3_reasons import explain, where
from mailbridge.fetcher.failures import FetchFailure, Kind, TokenRejected, permanent, transient
from mailbridge.fetcher.model import AccountConfig, Credentials, Mechanism
from mailbridge.fetcher.pop3_wire import (
    MAX_LISTED,
    MAX_LISTING_BYTES,
    NONE,
    Capabilities,
    Listed,
    MultiLine,
    control_character,
    listing,
    parse_pairs,
)

MIN_RATE = 16 * 1024  # bytes a second a step may average beyond its timeout
T = TypeVar("T")


class Pop3Sessions:
    """The fetcher's POP3 port (`ports.Pop3Connector`): a new session for every fetch (POP3 keeps
    none between them), closed when the block ends; only `delete_and_quit` commits deletions.

    With `limits` (#17) each session holds a slot of its server and login shared by every replica
    (`common.connection_slots`, under the server's `imap_connections_per_login`: a provider counts
    every connection of a mailbox); with all taken the fetch fails as transient and comes again
    with backoff. The slot is given back when the session ends, however it ends."""

    def __init__(self, limits: SharedLimits | None = None) -> None:
        self._limits = limits

    @contextlib.asynccontextmanager
    async def logged_in(
        self, account: AccountConfig, endpoint: Endpoint, credentials: Credentials
    ) -> AsyncIterator["Pop3Mailbox"]:
        slot = held_slot(
            self._limits, "pop3", endpoint.host, endpoint.port, credentials.login,
            account.imap_connections_per_login, refused=lambda full: transient(full.reason),
        )  # fmt: skip
        async with slot:
            mailbox = Pop3Mailbox(endpoint)
            try:
                await mailbox.connect_and_sign_in(credentials)
                yield mailbox
            finally:
                await mailbox.close()


class Pop3Mailbox:
    """One POP3 session; every method is a coroutine that runs poplib in a thread."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._where = where(endpoint.host, endpoint.port)
        self._line = Line()
        self._client: Client | None = None
        self.capabilities: Capabilities = NONE
        self.utf8 = False  # UTF8 sent and accepted

    async def connect_and_login(self, user: str, password: str) -> None:
        await self.connect_and_sign_in(Credentials(user, password))

    async def connect_and_sign_in(self, credentials: Credentials) -> None:
        oauth = credentials.mechanism is Mechanism.XOAUTH2
        user, secret = credentials.login, credentials.secret
        for field, value in (("login", user), ("token" if oauth else "password", secret)):
            found = control_character(value)
            if found is not None:
                raise permanent(f"the account's {field} contains a control character ({found}), "
                                "which POP3 would send as the start of another command")  # fmt: skip
        end = self._endpoint
        implicit = end.tls_context() if end.security is TransportSecurity.IMPLICIT_TLS else None
        client = await self._step(
            "the greeting", lambda: Client(end.host, end.port, end.timeout_s, self._line, implicit)
        )
        self._client = client
        self.capabilities = await self._step("CAPA", client.capabilities)
        if end.security is TransportSecurity.STARTTLS:
            if not self.capabilities.offers("STLS"):
                raise permanent(f"{self._where} does not offer STLS, and the server is set to use TLS")
            await self._step("STLS", lambda: client.start_tls(end.tls_context()))
            self.capabilities = await self._step("CAPA", client.capabilities)  # RFC 2595 §4
        if self.capabilities.offers("UTF8"):
            self.utf8 = await self._step("UTF8", lambda: client.optional("UTF8"))
        if oauth:
            await self._xoauth2(client, user, secret)
        else:
            await self._step(f"login as {user}", lambda: (client.user(user), client.pass_(secret)))

    async def _xoauth2(self, client: Client, user: str, token: str) -> None:
        sasl = initial_response(user, token)
        try:
            await self._step(f"login as {user} with an OAuth token", lambda: client.xoauth2(sasl))
        except FetchFailure as failure:
            if not client.token_sent or failure.kind is not Kind.PERMANENT:
                raise  # the server does not take XOAUTH2, or the connection failed
            challenge = client.token_challenge
            said = error_challenge(challenge) if challenge else None
            reason = failure.reason + (f" ({said})" if said else "")
            raise TokenRejected(Kind.PERMANENT, reason) from failure

    async def listing(self) -> list[Listed]:
        """Every message in the maildrop with its UIDL (None: the server refused UIDL) and LIST
        size, in message-number order."""
        client = self._require()
        sizes = await self._step("LIST", lambda: client.listed("LIST"))
        uidls = await self._step(
            "UIDL", lambda: client.optional_multi_line("UIDL", MultiLine(MAX_LISTING_BYTES, MAX_LISTED))
        )
        try:
            return listing(
                parse_pairs(sizes, "LIST"), None if uidls is None else parse_pairs(uidls.lines(), "UIDL")
            )
        except ValueError as error:
            reason = f"{self._where} sent a maildrop listing that does not add up: {error}"
            raise self._fail(transient(reason)) from error

    async def retrieve(self, number: int, max_bytes: int) -> bytes:
        """Message `number`, aborted (and the connection dropped) past `max_bytes`."""
        client = self._require()
        answer = await self._step(
            f"RETR {number}", lambda: client.multi_line(f"RETR {number}", MultiLine(max_bytes))
        )
        return bytes(answer.body)

    async def header_block(self, number: int, max_bytes: int) -> bytes | None:
        """Message `number`'s header block (TOP n 0), or None when the server has no TOP."""
        client = self._require()
        answer = await self._step(
            f"TOP {number} 0", lambda: client.optional_multi_line(f"TOP {number} 0", MultiLine(max_bytes))
        )
        return None if answer is None else bytes(answer.body)

    async def delete_and_quit(self, numbers: list[int]) -> None:
        """Mark `numbers` deleted and QUIT, which commits the deletion on the server."""
        client = self._require()

        def delete_and_quit() -> None:
            for number in numbers:
                client.dele(number)
            client.quit()

        try:
            await self._step("DELE and QUIT", delete_and_quit)
        finally:
            self._client = None
            self._line.close()

    async def close(self) -> None:
        """Leave without committing deletions (RSET semantics of a dropped connection)."""
        client, self._client = self._client, None
        if client is not None and not self._line.cut_off:
            with contextlib.suppress(FetchFailure):
                await self._step("RSET and QUIT", lambda: (client.rset(), client.quit()))
        if client is not None:
            with contextlib.suppress(OSError):  # a socket a failed TLS handshake left closed already
                client.close()
        self._line.close()

    async def _step(self, what: str, work: Callable[[], T]) -> T:
        """`work` in a thread under the watchdog; any failure as a FetchFailure, the line cut."""
        loop = asyncio.get_running_loop()
        begun: list[float] = []
        received = self._line.received

        def timed() -> T:
            begun.append(loop.time())  # the deadline runs from here, not from waiting for a thread
            return work()

        task = asyncio.ensure_future(asyncio.to_thread(timed))
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        poll_s = min(1.0, self._endpoint.timeout_s / 10)
        try:
            while not (await asyncio.wait({task}, timeout=poll_s))[0]:
                if not begun:
                    continue
                elapsed, came = loop.time() - begun[0], self._line.received - received
                if elapsed > self._endpoint.timeout_s + came / MIN_RATE:
                    self._line.cut()
                    await asyncio.wait({task}, timeout=self._endpoint.timeout_s)
                    stalled = f"{came} bytes" if came else "no answer"
                    reason = f"{self._where} too slow during {what}: {stalled} in {elapsed:.0f} s"
                    raise self._fail(transient(reason))
        except asyncio.CancelledError:
            self._line.cut()
            raise
        try:
            return task.result()
        except Exception as error:  # whatever poplib, ssl or the socket raise
            raise self._fail(explain(error, what, self._where, self._encrypted())) from error

    def _fail(self, failure: FetchFailure) -> FetchFailure:
        self._line.cut()  # the conversation's state is unknown: never go on with it
        return failure

    def _encrypted(self) -> bool:
        return self._client.encrypted if self._client is not None else (
            self._endpoint.security is TransportSecurity.IMPLICIT_TLS
        )  # fmt: skip

    def _require(self) -> Client:
        assert self._client is not None, "connect first"
        return self._client
