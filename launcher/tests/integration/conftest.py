"""The launcher's fixtures: the configuration API on each database backend, to try what the
`mailbridge` command created against it."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from config_api_testing import Api, RunningApp
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings


@pytest.fixture
async def api(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    """An admin client of the API on the session's database (no scheduler, no relay)."""
    await upgrade_async(database_url)
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=nats_url, secret_key=generate_key(),
        var_dir=tmp_path / "api-var", scheduler_tick_s=0, outbox_relay=False,
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        context: AppContext = app.state.context
        async with context.sessions() as session:
            key = await create_api_key(session, Role.ADMIN, None)
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mailbridge/api/v1") as client:
            yield Api(client, RunningApp(app, context.sessions, database_url), key)
