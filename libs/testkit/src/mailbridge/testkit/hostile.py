"""A deliberately broken or hostile server on loopback, for tests of what a client survives.

Real servers (Dovecot, Postfix) cover the happy paths; this covers what they never do: greet and
then fall silent, answer garbage, send a line that never ends, announce a literal of 2 GB and
stream it, trickle a byte at a time. A `HostileServer` runs a *script* for every connection it
accepts: an async function that gets a `Conversation` (read the client's lines, send bytes, hang).
The protocol scripts live beside it (`hostile_imap`, `hostile_pop3`, `hostile_smtp`).

The server runs its own event loop in a thread, so it keeps answering (or keeps silent) whatever
the code under test does with its own loop, and sync clients (poplib) can be tested the same way.
It listens on loopback only; every endless stream is bounded in bytes and time, and ends when
the client goes away or the server stops.
"""

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

MAX_LINE = 1024 * 1024  # the longest client line a script reads
STREAM_LIMIT_BYTES = 3 * 1024**3  # an endless stream ends here at the latest
STREAM_LIMIT_S = 60.0  # or after this long


class ClientGone(Exception):
    """The client closed the connection (or the server is stopping)."""


@dataclass
class Conversation:
    """One accepted connection, as a script sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: list[bytes] = field(default_factory=list)  # the client's lines, without CRLF

    async def line(self) -> bytes:
        """The client's next line (without CRLF); ClientGone when it closed."""
        try:
            data = await self.reader.readuntil(b"\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
            raise ClientGone from error
        text = data.rstrip(b"\r\n")
        self.received.append(text)
        return text

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError as error:
            raise ClientGone from error

    async def send_forever(
        self, chunk: bytes, delay_s: float = 0.0, limit_bytes: int = STREAM_LIMIT_BYTES,
        limit_s: float = STREAM_LIMIT_S,
    ) -> int:  # fmt: skip
        """Send `chunk` again and again (every `delay_s`) until the client goes away or a limit
        is reached; returns the bytes sent."""
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        try:
            while sent < limit_bytes and loop.time() < deadline:
                await self.send(chunk)
                sent += len(chunk)
                if delay_s:
                    await asyncio.sleep(delay_s)
        except ClientGone:
            pass
        return sent

    async def hang(self, limit_s: float = STREAM_LIMIT_S) -> None:
        """Say nothing more; read and record whatever the client sends until it goes away."""
        try:
            async with asyncio.timeout(limit_s):
                while True:
                    await self.line()
        except (ClientGone, TimeoutError):
            pass


Script = Callable[[Conversation], Awaitable[None]]


class HostileServer:
    """`with HostileServer(script) as server:` … connect to `server.host`, `server.port`."""

    def __init__(self, script: Script, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.script, self.host, self._tls = script, host, tls
        self.port = 0
        self.conversations: list[Conversation] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hostile-server", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def received(self) -> list[bytes]:
        """Every line every client sent, in order of the connections."""
        return [line for conversation in self.conversations for line in conversation.received]

    def start(self) -> "HostileServer":
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
            self._server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> "HostileServer":
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, self.host, 0, ssl=self._tls, limit=MAX_LINE)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conversation = Conversation(reader, writer)
        self.conversations.append(conversation)
        try:
            await self.script(conversation)
        except (ClientGone, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:  # the server stops: end quietly, asyncio would log it
            pass
        finally:
            writer.close()

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for conversation in self.conversations:
            conversation.writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
