"""Free loopback ports, and waiting for a server's LISTEN socket without connecting to it.

Readiness is read from /proc/net/tcp and /proc/net/tcp6 rather than probed with a connection:
a probe makes some servers (Dovecot) spawn a login process for nothing, which slows the next
shutdown. A port allocated here is free when returned; another process may still take it before
the server binds it: pass the server's `process`, and only a socket it holds counts (an inode
among its /proc/PID/fd), and its exit ends the wait.
"""

import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

_TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"


class ServerExited(RuntimeError):
    """The server process ended before it was listening."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing is bound to right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free TCP ports on `host` (all held open until every one is chosen)."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    with ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
    return ports


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listening_sockets() -> dict[tuple[str, int], int]:
    """Every (address, port) with a TCP socket in LISTEN state in this network namespace, with
    the socket's inode."""
    found: dict[tuple[str, int], int] = {}
    for table in _TCP_TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            address, port = fields[1].split(":")
            found[(_decode_address(address), int(port, 16))] = int(fields[9])
    return found


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets that process `pid` holds open."""
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return set()
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _is_listening(
    port: int, host: str | None, sockets: dict[tuple[str, int], int], owned: set[int] | None
) -> bool:
    if host is None:
        candidates = [inode for (_, listening), inode in sockets.items() if listening == port]
    else:
        wildcard = "::" if ipaddress.ip_address(host).version == 6 else "0.0.0.0"  # noqa: S104
        addresses = (str(ipaddress.ip_address(host)), wildcard)
        candidates = [sockets[(address, port)] for address in addresses if (address, port) in sockets]
    return any(owned is None or inode in owned for inode in candidates)


def wait_all_listening(
    ports: Iterable[int],
    timeout: float = 10.0,
    *,
    host: str | None = None,
    process: "subprocess.Popen[bytes] | None" = None,
) -> None:
    """Return once every port LISTENs (on `host`, when given). With `process`, only a socket
    that process holds counts (not one of another process that took the port), and its exit
    ends the wait early."""
    waiting = set(ports)
    deadline = time.monotonic() + timeout
    while True:
        sockets = listening_sockets()
        owned = socket_inodes(process.pid) if process is not None else None
        waiting = {port for port in waiting if not _is_listening(port, host, sockets, owned)}
        if not waiting:
            return
        if process is not None and process.poll() is not None:
            raise ServerExited(f"{process.args!r} exited with {process.returncode} before listening")
        if time.monotonic() > deadline:
            raise TimeoutError(f"ports {sorted(waiting)} not listening after {timeout} s")
        time.sleep(0.005)


def wait_listening(
    port: int,
    timeout: float = 10.0,
    *,
    host: str | None = None,
    process: "subprocess.Popen[bytes] | None" = None,
) -> None:
    """Return once `port` LISTENs; TimeoutError after `timeout` seconds."""
    wait_all_listening([port], timeout, host=host, process=process)
