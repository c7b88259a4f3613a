"""pytest fixtures of the interoperability matrix (#11): `interop_server`, each test once per server.

One running instance per server for the whole session: `dovecot_server` describes the session's
`mail_stack` (no second Dovecot), `courier_server` and `cyrus_server` start their own. A server
that cannot run here is skipped with its reason; under CI (`CI=true`) that is a failure.
Loaded by `pytest_plugin` (its `pytest_plugins`), so every test tree sees these fixtures.
"""

from collections.abc import Iterator

import pytest
from mailbridge.testkit.dovecot_interop import DovecotInterop
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.interop import InteropServer
from mailbridge.testkit.stack import MailStack

SERVERS = ["dovecot", "courier", "cyrus"]


@pytest.fixture(scope="session")
def dovecot_server(mail_stack: MailStack) -> DovecotInterop:
    return DovecotInterop(mail_stack)


@pytest.fixture(scope="session")
def courier_server() -> Iterator[InteropServer]:
    unavailable("Courier is not part of the matrix yet (testkit.courier)")
    yield from ()


@pytest.fixture(scope="session")
def cyrus_server() -> Iterator[InteropServer]:
    unavailable("Cyrus is not part of the matrix yet (testkit.cyrus)")
    yield from ()


@pytest.fixture(params=SERVERS)
def interop_server(request: pytest.FixtureRequest) -> InteropServer:
    """The running server of this test's column of the matrix."""
    server: InteropServer = request.getfixturevalue(f"{request.param}_server")
    return server
