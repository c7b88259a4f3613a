"""A TCP proxy on loopback that holds every chunk a client sends for a fixed time before passing
it on: a mail server as far away as a remote provider, for the scale benchmark.

Only the client's direction is delayed (by `delay_s`, 20 ms by default), so each IMAP command
and each TLS handshake flight from the client reaches the server that much later — a round trip
of `delay_s` — while bytes keep flowing at loopback speed: a delay, not a bandwidth limit. TLS
passes through untouched (the proxy never reads it), so the client still verifies the server's
certificate. The proxy runs its own event loop in a thread, so synchronous benchmarks and async
tests use it alike; it counts the connections it accepted (a poll's connections).
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CHUNK = 64 * 1024


@dataclass
class ProxyCounts:
    """Connections accepted, and the chunks clients sent (each held `delay_s`): about one per IMAP
    command or TLS handshake flight, so chunks per fetch say how many round trips it waited."""

    connections: int = 0
    chunks: int = 0


async def _pipe_delayed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float, counts: ProxyCounts
) -> None:
    """Pass each chunk on `delay_s` after it arrived, in order; EOF after the last one."""
    due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            at, chunk = await due.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            writer.write(chunk)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(forward())
    try:
        while chunk := await reader.read(CHUNK):
            counts.chunks += 1
            await due.put((time.monotonic() + delay_s, chunk))
    finally:
        await due.put((0.0, b""))
        await asyncio.gather(sender, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(CHUNK):
        writer.write(chunk)
        await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


@contextmanager
def delay_proxy(target_port: int, delay_s: float = 0.02, target_host: str = "127.0.0.1") -> Iterator["Proxy"]:
    """A proxy on 127.0.0.1 (its `port`) to `target_host:target_port`, stopped at exit."""
    proxy = Proxy(target_host, target_port, delay_s)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


class Proxy:
    def __init__(self, target_host: str, target_port: int, delay_s: float) -> None:
        self.target_host, self.target_port, self.delay_s = target_host, target_port, delay_s
        self.counts = ProxyCounts()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        serving = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        self.port = serving.result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.connections += 1  # on the proxy's own loop: no lock needed
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(
                _pipe_delayed(reader, server_writer, self.delay_s, self.counts),
                _pipe(server_reader, writer),
                return_exceptions=True,
            )
        finally:
            for either in (writer, server_writer):
                either.close()
