"""pytest fixtures for the credentials test's fault servers (T1), shared by the fetcher's and the
sender's tests of it; a conftest imports them by name.

`faults`: TLS servers whose certificate fails in one way each (`tls_faults`), made once a session.
`silent`: a server that accepts the connection and never says a word, for the deadlines.
`CERTIFICATE_FAULTS`: each of `faults`' certificates with the diagnosis it must get, for
`pytest.mark.parametrize(("fault", "code"), CERTIFICATE_FAULTS)`; `BROKER_REFUSALS` likewise, each
refusal of the OAuth broker with the diagnosis it must get.
"""

from collections.abc import Iterator

import pytest
from mailbridge.common.credential_checks import Code
from mailbridge.common.oauth_requests import Refusal
from mailbridge.testkit.hostile import Conversation, HostileServer
from mailbridge.testkit.tls_faults import TlsFaults, ensure_tls_faults

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
