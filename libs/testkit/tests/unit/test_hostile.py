"""The hostile server itself: scripts run per connection, client lines are recorded, endless
streams end when the client goes away, and stopping ends a hanging conversation."""

import socket
import time

from mailbridge.testkit.hostile import Conversation, HostileServer


async def _greet_then_echo_once(conversation: Conversation) -> None:
    await conversation.send(b"* OK hello\r\n")
    line = await conversation.line()
    await conversation.send(line[::-1] + b"\r\n")
    await conversation.hang()


async def _endless(conversation: Conversation) -> None:
    await conversation.send_forever(b"x" * 65536)


def test_a_script_talks_and_the_client_lines_are_recorded() -> None:
    with (
        HostileServer(_greet_then_echo_once) as server,
        socket.create_connection((server.host, server.port), 5) as sock,
    ):
        reader = sock.makefile("rb")
        assert reader.readline() == b"* OK hello\r\n"
        sock.sendall(b"abc\r\n")
        assert reader.readline() == b"cba\r\n"
        sock.sendall(b"USER evil\r\n")
        deadline = time.monotonic() + 5
        while b"USER evil" not in server.received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.received == [b"abc", b"USER evil"]


def test_an_endless_stream_ends_when_the_client_goes_away_and_stop_ends_hangs() -> None:
    with HostileServer(_endless) as server:
        with socket.create_connection((server.host, server.port), 5) as sock:
            assert len(sock.recv(65536)) > 0
        with socket.create_connection((server.host, server.port), 5) as sock:
            sock.recv(1)
        started = time.monotonic()
    assert time.monotonic() - started < 10
    assert len(server.conversations) == 2
