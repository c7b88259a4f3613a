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
"""

import asyncio
import ssl
from collections.abc import Callable

from aioimaplib import IMAP4, Command, FetchCommand, IMAP4ClientProtocol, Response
from mailbridge.fetcher.imap_framing import ResponseFramer, literal_size


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
        self.connection_closed = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection_closed = True
        super().connection_lost(exc)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._framer.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self._handle_pieces(self._framer.buffer_updated(nbytes))

    def data_received(self, data: bytes) -> None:
        self._handle_pieces(self._framer.feed(data))

    def _handle_pieces(self, pieces: list[bytes | bytearray]) -> None:
        for piece in pieces:
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
        assert self._continuing is not None, "a literal follows the line that announced it"
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
