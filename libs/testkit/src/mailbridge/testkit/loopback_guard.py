"""A guard that makes every TCP/UDP connect to a non-loopback address fail loudly in the tests.

Nothing of Microsoft's may be reached from the tests (issue #13): msal without
`instance_discovery=False` would ask login.microsoftonline.com, and a slip like that must fail
the test, not pass quietly on a machine with network. The guard wraps `socket.socket.connect`
and `connect_ex` (every Python client goes through them: requests/urllib3, httpx, asyncio's
selector loop, ssl, asyncpg, nats); AF_UNIX sockets pass untouched, AF_INET/AF_INET6 ones only
to 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104, plus what `MAILBRIDGE_TEST_ALLOWED_NETWORKS`
lists (comma-separated CIDRs, e.g. a Docker bridge for a PostgreSQL container). A host name is
resolved first and passes only when every address is allowed. The refusal is
`NonLoopbackConnection`, deliberately not an OSError, so no client's retry loop swallows it.
"""

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ALLOWED_NETWORKS_ENV = "MAILBRIDGE_TEST_ALLOWED_NETWORKS"
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NonLoopbackConnection(RuntimeError):
    """A test tried to leave the machine."""


def allowed_networks(environ: dict[str, str] | None = None) -> tuple[_Network, ...]:
    listed = (environ if environ is not None else os.environ).get(ALLOWED_NETWORKS_ENV, "")
    extra = tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in listed.split(",") if item.strip()
    )
    return _LOOPBACK + extra


def address_allowed(host: str, networks: tuple[_Network, ...]) -> bool:
    """Whether an IP literal (IPv4, IPv6 with or without zone, v4-mapped) lies in `networks`."""
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _host_allowed(host: str, networks: tuple[_Network, ...]) -> bool:
    try:
        return address_allowed(host, networks)
    except ValueError:
        pass  # a name, not a literal
    try:
        found = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(found) and all(address_allowed(str(entry[4][0]), networks) for entry in found)


def _guarded(original: Callable[..., Any], networks: tuple[_Network, ...]) -> Callable[..., Any]:
    def connect(sock: socket.socket, address: Any) -> Any:
        inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
        if inet and not _host_allowed(str(address[0]), networks):
            raise NonLoopbackConnection(
                f"loopback guard (mailbridge.testkit.loopback_guard): connect to {address[0]}:{address[1]}"
                f" refused; the tests reach only loopback (and {ALLOWED_NETWORKS_ENV})"
            )
        return original(sock, address)

    return connect


class LoopbackGuard:
    """Installs and removes the wrappers; `install()` twice is harmless."""

    def __init__(self) -> None:
        self._originals: tuple[Any, Any] | None = None

    @property
    def installed(self) -> bool:
        return self._originals is not None

    def install(self, networks: tuple[_Network, ...] | None = None) -> None:
        if self._originals is not None:
            return
        networks = networks if networks is not None else allowed_networks()
        self._originals = (socket.socket.connect, socket.socket.connect_ex)
        setattr(socket.socket, "connect", _guarded(self._originals[0], networks))  # noqa: B010
        setattr(socket.socket, "connect_ex", _guarded(self._originals[1], networks))  # noqa: B010

    def remove(self) -> None:
        if self._originals is None:
            return
        setattr(socket.socket, "connect", self._originals[0])  # noqa: B010
        setattr(socket.socket, "connect_ex", self._originals[1])  # noqa: B010
        self._originals = None


GUARD = LoopbackGuard()


@contextmanager
def loopback_only() -> Iterator[LoopbackGuard]:
    """The guard for a `with` block (left in place when it was already on)."""
    was_installed = GUARD.installed
    GUARD.install()
    try:
        yield GUARD
    finally:
        if not was_installed:
            GUARD.remove()
