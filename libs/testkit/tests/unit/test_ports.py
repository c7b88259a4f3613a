"""Free ports and LISTEN detection from /proc/net/tcp, against plain Python sockets."""

import socket
import subprocess
import sys

import pytest
from mailbridge.testkit.ports import (
    ServerExited,
    free_port,
    free_ports,
    listening_sockets,
    wait_all_listening,
    wait_listening,
)


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[0]))


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_a_listening_socket_is_seen_on_its_address(family: socket.AddressFamily, host: str) -> None:
    port = free_port(host)
    with socket.socket(family) as server:
        server.bind((host, port))
        assert (host, port) not in listening_sockets()
        server.listen()
        wait_listening(port, 1.0, host=host)
        assert (host, port) in listening_sockets()


def test_waiting_for_a_silent_port_times_out() -> None:
    with pytest.raises(TimeoutError, match="not listening"):
        wait_all_listening([free_port()], 0.05)


def test_waiting_stops_when_the_server_exits() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with pytest.raises(ServerExited):
        wait_listening(free_port(), 5.0, process=process)


def test_a_port_held_by_another_process_does_not_count() -> None:
    server_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            wait_listening(port, 1.0)  # anyone's socket
            with pytest.raises(TimeoutError):
                wait_listening(port, 0.05, process=server_process)
    finally:
        server_process.kill()
        server_process.wait()
