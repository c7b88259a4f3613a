"""One `make run` for the end-to-end tests that only read and write through the API; a test's own
PostgreSQL database, NATS server and fetcher fleet for those that start fetcher processes."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from e2e_system import RunningSystem, make_run
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.testkit.databases import fresh_postgres_database
from mailbridge.testkit.fetcher_fleet import FetcherFleet
from mailbridge.testkit.stack import MailStack
from sqlalchemy.engine import URL


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with make_run(tmp_path_factory.mktemp("system") / "var") as running:
        yield running


@pytest.fixture
def mail_system(tmp_path_factory: pytest.TempPathFactory, mail_stack: MailStack) -> Iterator[RunningSystem]:
    """`make run` of this test's own, trusting the harness's CA: it sends through Postfix and fetches
    from Dovecot."""
    trusting = {"MAILBRIDGE_EXTRA_CA_FILE": str(mail_stack.ca_file)}
    with make_run(tmp_path_factory.mktemp("mail-system") / "var", trusting) as running:
        yield running


@pytest.fixture
async def postgres_url(postgres_server_url: URL) -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database of this test's own."""
    async with fresh_postgres_database(postgres_server_url) as url:
        await upgrade_async(url)
        yield url


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[str]:
    """A NATS server of this test's own: its streams and durables (with the test's ack wait) go with it."""
    server = start_embedded_nats(tmp_path / "nats")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FetcherFleet]:
    """Fetcher processes the test starts; all stopped at its end."""
    running = FetcherFleet({}, tmp_path)
    yield running
    running.stop_all()
