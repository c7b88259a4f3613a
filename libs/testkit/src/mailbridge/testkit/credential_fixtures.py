"""pytest fixtures for the credentials test's fault servers (T1), shared by the fetcher's and the
sender's tests of it; a conftest imports them by name.

`faults`: TLS servers whose certificate fails in one way each (`tls_faults`), made once a session.
`silent`: a server that accepts the connection and never says a word, for the deadlines.
`CERTIFICATE_FAULTS`: each of `faults`' certificates with the diagnosis it must get, for
`pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)`; `BROKER_REFUSALS` likewise, each
refusal of the OAuth broker with the diagnosis it must get.
`answering`: a service's credentials responder answering on real NATS for a block.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import nats
import pytest
from mailbridge.common.credential_checks import Code
from mailbridge.common.credential_responder import CredentialResponder
from mailbridge.common.oauth_requests import Refusal
from mailbridge.testkit.hostile import Conversation, HostileServer
from mailbridge.testkit.tls_faults import TlsFaults, ensure_tls_faults
from nats.aio.client import Client

CERTIFICATE_FAULTS = [
    ("expired", Code.CERTIFICATE_EXPIRED),
    ("other_host", Code.HOSTNAME_MISMATCH),
    ("untrusted", Code.CERTIFICATE_UNTRUSTED),
]
BROKER_REFUSALS = [
    (Refusal.NOT_CONNECTED, Code.OAUTH_NOT_CONNECTED),
    (Refusal.NEEDS_RECONNECT, Code.OAUTH_NEEDS_RECONNECT),
]


async def hang(conversation: Conversation) -> None:
    await conversation.hang()


@pytest.fixture(scope="session")
def faults() -> TlsFaults:
    return ensure_tls_faults()


@pytest.fixture
def silent() -> Iterator[HostileServer]:
    with HostileServer(hang) as server:
        yield server


@asynccontextmanager
async def answering(responder: CredentialResponder, nats_url: str) -> AsyncIterator[Client]:
    """`responder` (a service's `credential_requests(...)`) answering on a NATS connection for the
    block, as the service's main starts it; the connection, to ask it with."""
    client = await nats.connect(nats_url)
    try:
        await responder.start(client)
        yield client
    finally:
        await responder.stop()
        await client.close()
