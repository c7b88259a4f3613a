"""Fetcher fixtures: the store on SQLite and PostgreSQL, deps trusting the stack's CA, POP3
accounts on scripted servers, and testkit's OAuth mail stack (Dovecot checking tokens, S2)."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from fetcher_testing import FetchWorld, fetch_deps
from hostile_accounts import hostile_account
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.fetcher.adapters.store import MailStore
from mailbridge.fetcher.sync import Limits
from mailbridge.testkit.config_rows import empty_tables
from mailbridge.testkit.credential_fixtures import faults, silent  # noqa: F401 - fixtures (T1)
from mailbridge.testkit.hostile import HostileServer
from mailbridge.testkit.oauth_mail_fixtures import oauth_mail_stack, oauth_mail_user  # noqa: F401 - fixtures (S2)
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
    deps = fetch_deps(MailStore(sessions, secrets), mail_stack.client_context(), "test-holder", limits, 10.0)
    yield FetchWorld(sessions, secrets, deps, mail_stack)
    await engine.dispose()


ScriptedPop3Account = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def scripted_pop3_account(world: FetchWorld) -> ScriptedPop3Account:
    """`await scripted_pop3_account(server, **server_fields)`: a POP3 account (plain, loopback)
    on a scripted server, e.g. `delete_after_fetch=True`."""

    async def make(server: HostileServer, **server_fields: object) -> uuid.UUID:
        account = await hostile_account(world, server)
        async with world.sessions() as session:
            row = await session.get(MailAccount, account)
            assert row is not None
            mail_server = await session.get(MailServer, row.server_id)
            assert mail_server is not None
            for name, value in {"incoming_protocol": "pop3", **server_fields}.items():
                setattr(mail_server, name, value)
            await session.commit()
        return account

    return make
