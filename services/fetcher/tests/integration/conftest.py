"""Fetcher fixtures: the store on SQLite and PostgreSQL, deps trusting the stack's CA."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from fetcher_testing import FetchWorld
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.fetch_account import FetchDeps
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables
from mailbridge.testkit.stack import MailStack


@pytest.fixture(scope="session")
async def migrated_url(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture
async def world(migrated_url: str, mail_stack: MailStack) -> AsyncIterator[FetchWorld]:
    engine = create_engine(migrated_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    secrets = SecretBox([generate_key()])
    limits = Limits(batch_count=7, batch_bytes=64 * 1024, lease_ttl=timedelta(seconds=30))
    deps = FetchDeps(MailStore(sessions, secrets), mail_stack.client_context(), "test-holder", limits, 10.0)
    yield FetchWorld(sessions, secrets, deps, mail_stack)
    await engine.dispose()
