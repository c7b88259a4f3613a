"""config-api test fixtures: the app on each database backend, an HTTP client, API keys."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from config_api_testing import Api, RunningApp
from mailbridge.common import outbox_relay
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.seal_keys import generate_seal_key
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.config_rows import empty_tables


@pytest.fixture(scope="session")
async def running_app(
    database_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningApp]:
    await upgrade_async(database_url)
    settings = ConfigApiSettings(
        database_url=database_url,
        nats_url=nats_url,
        secret_key=generate_key(),
        seal_key=generate_seal_key(),  # G6: GET /outbox/verify
        var_dir=tmp_path_factory.mktemp("var"),
        scheduler_tick_s=0,
        # The database is shared with the fetcher's and sender's tests, which read the outbox
        # table: the relay runs only while a config-api test does (`api`).
        outbox_relay=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        context: AppContext = app.state.context
        yield RunningApp(app, context.sessions, database_url)


@pytest.fixture
async def api(running_app: RunningApp) -> AsyncIterator[Api]:
    """An admin client on empty tables."""
    await empty_tables(running_app.sessions)
    async with running_app.sessions() as session:
        key = await create_api_key(session, Role.ADMIN, None)
        await session.commit()
    context: AppContext = running_app.app.state.context
    relay = asyncio.create_task(
        outbox_relay.relay_forever(
            context.sessions, context.broker, context.publish_timeout_s, wake=context.relay_wake
        )
    )
    transport = httpx.ASGITransport(app=running_app.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://mailbridge/api/v1") as client:
            yield Api(client, running_app, key)
    finally:
        relay.cancel()
        await asyncio.gather(relay, return_exceptions=True)
