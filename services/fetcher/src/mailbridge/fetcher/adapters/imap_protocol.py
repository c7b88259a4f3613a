"""aioimaplib's client with a framed reader: the same commands, states and responses, read cheaply.

aioimaplib 2.0's `data_received` formats every network read into a debug message (logging off or
not), copies the rest of the read once per line, recurses once per line, and after every line of
a FETCH answer re-joins all of the command's lines so far to count parentheses: about 0.7 ms per
60 KB message, quadratic in the lines of one answer. Here the protocol is an asyncio
`BufferedProtocol` over `ResponseFramer`: reads (TLS decrypts) go straight into a literal's own
buffer or into a reusable line buffer. Every line then takes aioimaplib's own route
(`_handle_line`), followed by the decisions aioimaplib makes after a line: a literal belongs to
the command of the line that announced it; a FETCH answer goes on while its parentheses are
open (counted per line as it arrives); else the next line starts afresh.

Hostile servers (#10 items 1, 3, 9): the greeting is judged here, synchronously, instead of in
aioimaplib's `welcome()` task (which holds `state_condition` while it waits for CAPABILITY, so
a server that never answers made every later wait and cancellation hang). Whatever ends the
connection — the framer's limits, a nonsensical answer, a deadline (`abort`), the server going
away — fails every waiting command and the greeting at once with `ImapAborted` and its reason,
and drops the buffers: no waiter outlives the connection and no exception is left in a task.
"""

import asyncio
import logging
import ssl
from collections.abc import Callable

from aioimaplib import IMAP4, AioImapException, Command, FetchCommand, IMAP4ClientProtocol, Response
from aioimaplib.aioimaplib import tagged_status_response_re
from mailbridge.fetcher.adapters.imap_sasl import SaslCommand
from mailbridge.fetcher.failures import printable
from mailbridge.fetcher.imap_framing import ALLOWANCE, MAX_LITERAL, FramingError, ResponseFramer, literal_size

IMAP_VERSIONS = {"IMAP4REV1", "IMAP4REV2"}
logger = logging.getLogger(__name__)


class ImapAborted(AioImapException):  # type: ignore[misc]
    """The connection was given up; the reason says why in words a person can act on."""


class NotImap(ImapAborted):
    """The server at the other end does not speak IMAP."""


class CountingFetchCommand(FetchCommand):  # type: ignore[misc]
    """A FETCH whose "answer still open?" is kept up to date per line instead of recomputed."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self._open_parentheses = 0
        super().__init__(*args, **kwargs)

    def append_to_resp(self, line: bytes | bytearray, result: str = "Pending") -> None:
        super().append_to_resp(line, result)
        if isinstance(line, bytes):  # literals do not count, as in aioimaplib
            if self.FETCH_MESSAGE_DATA_RE.match(line):
                self._open_parentheses = 0
            self._open_parentheses += line.count(b"(") - line.count(b")")

    def wait_data(self) -> bool:
        return bool(self._open_parentheses)


class FramedProtocol(IMAP4ClientProtocol, asyncio.BufferedProtocol):  # type: ignore[misc]
    def __init__(
        self, loop: asyncio.AbstractEventLoop, conn_lost_cb: Callable[[Exception | None], None] | None = None
    ) -> None:
        super().__init__(loop, conn_lost_cb)
        self._framer = ResponseFramer()
        self._continuing: Command | None = None  # the command the next line or literal belongs to
        self._next_limits = (MAX_LITERAL, ALLOWANCE)
        self.connection_closed = False
        self.failure: str | None = None
        self.greeting: asyncio.Future[None] = self.loop.create_future()
        self.greeting.add_done_callback(_retrieved)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection_closed = True
        self.abort("the server closed the connection" + (f" ({exc})" if exc else ""))
        super().connection_lost(exc)

    def abort(self, reason: str, error: type[ImapAborted] = ImapAborted) -> None:
        """Give the connection up: every waiter fails with `reason` (the first one sticks)."""
        if self.failure is not None:
            return
        self.failure = reason
        failed = error(reason)
        if not self.greeting.done():
            self.greeting.set_exception(failed)
        pending: dict[str, Command] = self.__dict__["pending_async_commands"]
        waiting = [self.__dict__["pending_sync_command"], *pending.values()]
        self.pending_sync_command, self._continuing = None, None
        self.pending_async_commands = dict[str, Command]()
        for command in waiting:
            if command is not None:
                command._exception = failed
                command.close(b"", "BAD")
        self._framer.release()
        if self.transport is not None:
            self.transport.abort()

    def shrink_buffers(self) -> None:
        """A small read buffer while the connection waits (IDLE, #18); it grows for a long line."""
        self._framer.shrink()

    def expect_next(self, max_literal: int, allowance: int) -> None:
        """Limits for the next command's answer only (a body FETCH: the announced sizes)."""
        self._next_limits = (max_literal, allowance)

    async def execute(self, command: Command, scrub: str | None = None) -> Response:
        if self.failure is not None:
            raise ImapAborted(self.failure)
        self._framer.expect(*self._next_limits)
        self._next_limits = (MAX_LITERAL, ALLOWANCE)
        return await super().execute(command, scrub)

    async def capability(self) -> None:
        """CAPABILITY, refusing a server that does not speak IMAP4rev1 (or rev2)."""
        response = await self.execute(Command("CAPABILITY", self.new_tag(), loop=self.loop))
        words: set[str] = set()
        for line in response.lines[:-1]:  # the untagged answers, with or without the word
            if isinstance(line, bytes):
                words |= set(line.decode(errors="replace").split()) - {"CAPABILITY"}
        if response.result != "OK" or not IMAP_VERSIONS & {word.upper() for word in words}:
            said = printable(b" ".join(bytes(line) for line in response.lines), 120)
            raise NotImap(f"the server did not answer CAPABILITY like an IMAP server (it said: {said})")
        self.capabilities = words

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.failure is not None:  # the rest of a read that is being thrown away
            return memoryview(bytearray(READ_DISCARD))
        return self._framer.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        if self.failure is None:
            self._guarded(lambda: self._handle_pieces(self._framer.buffer_updated(nbytes)))

    def data_received(self, data: bytes) -> None:
        if self.failure is None:
            self._guarded(lambda: self._handle_pieces(self._framer.feed(data)))

    def _guarded(self, handle: Callable[[], None]) -> None:
        """A protocol callback never raises: whatever goes wrong ends the connection with a reason."""
        try:
            handle()
        except FramingError as error:
            self.abort(str(error))
        except Exception as error:  # noqa: BLE001 - a hostile answer must not escape into asyncio
            self.abort(f"the server's answer made no sense ({printable(str(error), 150)})")

    def _handle_line(self, line: bytes, current_cmd: Command | None) -> Command | None:
        if self.state == "CONNECTED" and line:
            self._greeted(line)
            return None
        if current_cmd is None and self._noise(line):
            return None
        result: Command | None = super()._handle_line(line, current_cmd)
        return result

    def send(self, line: str, scrub: str | None = None) -> None:
        command = self.pending_sync_command
        if isinstance(command, SaslCommand) and command.initial is not None and self.transport is not None:
            self.transport.write(line.encode() + b" " + command.initial + b"\r\n")  # never logged
            return
        super().send(line, scrub)

    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if not isinstance(command, SaslCommand):
            super()._continuation(line)
            return
        answer = command.next_answer(line[1:].strip())
        if answer is None:
            self.abort("the server kept sending challenges instead of finishing AUTHENTICATE")
        elif self.transport is not None:
            self.transport.write(answer + b"\r\n")  # a secret: never logged

    def _noise(self, line: bytes) -> bool:
        """A line no command can take (aioimaplib would log all of it, up to the line limit)."""
        if tagged_status_response_re.match(line):
            return False
        waiting = self.pending_sync_command is not None or self.pending_async_commands
        if line.startswith((b"*", b"+")) and waiting:
            return False
        logger.debug("ignored from the server: %s", printable(line, 120))
        return True

    def _greeted(self, line: bytes) -> None:
        """RFC 3501 §7.1: `* OK` (log in next), `* PREAUTH` (logged in), `* BYE` (go away)."""
        start = line[:10].upper()
        if start.startswith(b"* OK"):
            self.state = "NONAUTH"
        elif start.startswith(b"* PREAUTH"):
            self.state = "AUTH"
        elif start.startswith(b"* BYE"):
            self.abort(f"the server refused the connection (it said: {printable(line, 120)})")
            return
        else:
            said = printable(line, 120)
            self.abort(f"the server did not greet like an IMAP server (it said: {said})", NotImap)
            return
        if not self.greeting.done():
            self.greeting.set_result(None)

    def _handle_pieces(self, pieces: list[bytes | bytearray]) -> None:
        for piece in pieces:
            if self.failure is not None:
                return
            if isinstance(piece, bytearray):
                self._literal_received(piece)
            else:
                self._line_received(piece)
        if self._continuing is not None:
            self._continuing._reset_timer()  # a long literal on its way is progress
        if self._framer.idle and self.pending_sync_command is not None:
            self.pending_sync_command.flush()

    def _line_received(self, line: bytes) -> None:
        command: Command | None = self._handle_line(line, self._continuing)
        if literal_size(line) is not None:
            self._continuing = command if command is not None else Command("NIL", "unused", loop=self.loop)
        elif command is not None and command.wait_data():
            self._continuing = command
        else:
            self._continuing = None

    def _literal_received(self, literal: bytearray) -> None:
        if self._continuing is None:
            raise AioImapException("a literal arrived that no line announced")
        self._continuing.append_to_resp(literal)

    async def fetch(
        self, message_set: str, message_parts: str, by_uid: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - aioimaplib's signature
    ) -> Response:  # fmt: skip
        command = CountingFetchCommand(
            self.new_tag(), message_set, message_parts,
            prefix="UID" if by_uid else "", loop=self.loop, timeout=timeout,
        )  # fmt: skip
        return await self.execute(command)


READ_DISCARD = 64 * 1024


def _retrieved(future: "asyncio.Future[None]") -> None:
    """A greeting nobody awaited any more must not log 'exception was never retrieved'."""
    if not future.cancelled():
        future.exception()


class FramedImap4(IMAP4):  # type: ignore[misc]
    """`IMAP4` (plain, STARTTLS later, or implicit TLS with `ssl_context`) on `FramedProtocol`."""

    def create_client(
        self, host: str, port: int, loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:  # fmt: skip
        local_loop = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = FramedProtocol(local_loop, conn_lost_cb)
        self._client_task = local_loop.create_task(
            local_loop.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )
