"""The fetcher's interoperability matrix (#11): the same protocol tests against Dovecot, Courier
and Cyrus, each a private instance on loopback from Debian's packages.

Every test here takes `interop_world`, whose `server` is one column of the matrix: the fixture
`interop_server` (testkit.interop_fixtures) runs each test once per server, ids `dovecot`,
`courier` and `cyrus`, with one running instance per server for the whole session (Dovecot is
the session's `mail_stack`). Mailboxes are seeded and read only over IMAP (`ImapSeeder`: APPEND
with flags, STORE, EXPUNGE, DELETE/CREATE) and POP3, never through a server's files, so one
test body serves all three; what differs between the servers (folder separator and personal
namespace, CONDSTORE/QRESYNC, UTF8) is data on the server, read by the test where it matters.
A server that cannot run here is skipped with the reason (the command that installs it);
under CI (`CI=true`) that fails instead.

The matrix is the focused subset of the fetcher's protocol tests: the full suite runs on
Dovecot (`tests/integration`). Run one server's column with
`pytest services/fetcher/tests/interop -k courier` (or `-k cyrus`, `-k dovecot`); one backend
with `-k sqlite` or `-k postgresql`.
"""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fetcher_testing import fetch_deps
from interop.interop_testing import InteropWorld
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables
from mailbridge.testkit.interop import InteropServer, client_context


@pytest.fixture(scope="session")
async def interop_database_url(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture
async def interop_world(
    interop_database_url: str, interop_server: InteropServer
) -> AsyncIterator[InteropWorld]:
    engine = create_engine(interop_database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    secrets = SecretBox([generate_key()])
    limits = Limits(batch_count=7, batch_bytes=256 * 1024, lease_ttl=timedelta(seconds=30))
    deps = fetch_deps(MailStore(sessions, secrets), client_context(interop_server), "interop", limits, 10.0)
    yield InteropWorld(sessions, secrets, deps, interop_server)
    await engine.dispose()
