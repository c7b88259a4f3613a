"""The loopback guard (issue #13: nothing of Microsoft's is reachable from the tests): on for the
whole session, it refuses non-loopback connects loudly and lets loopback and Unix sockets pass."""

import asyncio
import socket
from pathlib import Path

import pytest
from mailbridge.testkit.loopback_guard import (
    GUARD,
    NonLoopbackConnection,
    address_allowed,
    allowed_networks,
)

TEST_NET = "192.0.2.1"  # RFC 5737: never routed
DOCUMENTATION_V6 = "2001:db8::1"  # RFC 3849


def test_the_guard_is_on_for_the_session() -> None:
    assert GUARD.installed


@pytest.mark.parametrize(
    ("family", "host"), [(socket.AF_INET, TEST_NET), (socket.AF_INET6, DOCUMENTATION_V6)]
)
def test_a_connect_off_the_machine_raises_naming_the_guard(family: socket.AddressFamily, host: str) -> None:
    with (
        socket.socket(family, socket.SOCK_STREAM) as sock,
        pytest.raises(NonLoopbackConnection, match="loopback guard"),
    ):
        sock.connect((host, 443))
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NonLoopbackConnection, match=host):
        sock.connect_ex((host, 443))


def test_create_connection_and_asyncio_are_refused_too() -> None:
    with pytest.raises(NonLoopbackConnection):
        socket.create_connection((TEST_NET, 443), timeout=5)

    async def open_one() -> None:
        await asyncio.open_connection(TEST_NET, 443)

    with pytest.raises(NonLoopbackConnection):
        asyncio.run(open_one())


def test_a_host_name_is_refused_unless_it_resolves_to_loopback() -> None:
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect(("name-that-does-not-resolve.invalid", 443))


@pytest.mark.parametrize(("family", "host"), [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_loopback_connects_pass(family: socket.AddressFamily, host: str) -> None:
    with socket.create_server((host, 0), family=family) as listener, socket.socket(family) as client:
        client.connect(listener.getsockname()[:2])
        accepted, _ = listener.accept()
        accepted.close()


def test_unix_sockets_pass(tmp_path: Path) -> None:
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as listener, socket.socket(socket.AF_UNIX) as client:
        listener.bind(path)
        listener.listen()
        client.connect(path)


def test_address_rules() -> None:
    loopback = allowed_networks({})
    assert address_allowed("127.0.0.53", loopback)
    assert address_allowed("::ffff:127.0.0.1", loopback)
    assert address_allowed("::1", loopback)
    assert not address_allowed("10.0.0.1", loopback)
    assert not address_allowed("fe80::1%eth0", loopback)
    with_bridge = allowed_networks({"MAILBRIDGE_TEST_ALLOWED_NETWORKS": "172.17.0.0/16, fd00::/8"})
    assert address_allowed("172.17.0.2", with_bridge)
    assert address_allowed("fd00::5", with_bridge)
    assert not address_allowed("172.18.0.2", with_bridge)


def test_removed_the_original_connect_is_back() -> None:
    guarded = socket.socket.connect
    GUARD.remove()
    try:
        assert socket.socket.connect is not guarded
        assert not GUARD.installed
    finally:
        GUARD.install()
    assert GUARD.installed
