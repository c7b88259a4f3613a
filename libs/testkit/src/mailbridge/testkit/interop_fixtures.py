"""pytest fixtures of the interoperability matrix (#11): `interop_server`, each test once per server.

One running instance per server for the whole session: `dovecot_server` describes the session's
`mail_stack` (no second Dovecot), `courier_server` and `cyrus_server` start their own. A server
that cannot run here is skipped with its reason; under CI (`CI=true`) that is a failure.
Loaded by `pytest_plugin` (its `pytest_plugins`), so every test tree sees these fixtures.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbridge.testkit.courier import Courier, missing_courier
from mailbridge.testkit.cyrus import Cyrus, missing_cyrus
from mailbridge.testkit.cyrus_config import CyrusOptions
from mailbridge.testkit.dovecot_interop import DovecotInterop
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.interop import InteropServer
from mailbridge.testkit.stack import DEFAULT_PARENT, MailStack

SERVERS = ["dovecot", "courier", "cyrus"]


@pytest.fixture(scope="session")
def dovecot_server(mail_stack: MailStack) -> DovecotInterop:
    return DovecotInterop(mail_stack)


@pytest.fixture(scope="session")
def courier_server() -> Iterator[Courier]:
    reason = missing_courier()
    if reason is not None:
        unavailable(reason)
    with Courier(parent=_parent()) as server:
        yield server


@pytest.fixture(scope="session")
def cyrus_server() -> Iterator[Cyrus]:
    """Cyrus with `munge8bit` off: by default it turns 8-bit header bytes into "X" as it stores
    them (on APPEND too), so no raw 8-bit header would ever reach the fetcher from Cyrus; with it
    off, the matrix's 8-bit messages cross Cyrus's IMAP and POP3 as sent, like on the others."""
    reason = missing_cyrus()
    if reason is not None:
        unavailable(reason)
    with Cyrus(parent=_parent(), options=CyrusOptions(munge8bit=False)) as server:
        yield server


def _parent() -> Path:
    """Where the servers' folders go: as for `mail_stack` (short, traversable by their users)."""
    parent = os.environ.get("MAILBRIDGE_TEST_STACK_PARENT")
    return Path(parent) if parent else DEFAULT_PARENT


@pytest.fixture(params=SERVERS)
def interop_server(request: pytest.FixtureRequest) -> InteropServer:
    """The running server of this test's column of the matrix."""
    server: InteropServer = request.getfixturevalue(f"{request.param}_server")
    return server
