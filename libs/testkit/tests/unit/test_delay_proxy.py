"""`delay_proxy`: bytes pass both ways unchanged and in order, every client chunk waits the delay,
connections and chunks are counted (the scale benchmark's round trips)."""

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest
from mailbridge.testkit.delay_proxy import delay_proxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _round_trip(connection: socket.socket, payload: bytes) -> bytes:
    connection.sendall(payload)
    received = b""
    while len(received) < len(payload):
        chunk = connection.recv(65536)
        assert chunk, "the proxy closed the connection"
        received += chunk
    return received


def test_bytes_pass_unchanged_and_in_order(echo_port: int) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, many chunks
    with delay_proxy(echo_port, delay_s=0.001) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as connection:
            assert _round_trip(connection, payload) == payload
            assert _round_trip(connection, b"A1 NOOP\r\n") == b"A1 NOOP\r\n"
        assert proxy.counts.connections == 1
        assert proxy.counts.chunks >= 2


def test_each_client_chunk_waits_the_delay(echo_port: int) -> None:
    with delay_proxy(echo_port, delay_s=0.05) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as connection:
            for number in range(3):
                started = time.monotonic()
                _round_trip(connection, f"A{number} NOOP\r\n".encode())
                assert time.monotonic() - started >= 0.05  # never sooner than the delay
        assert proxy.counts.chunks == 3
