"""/healthz: ready with database and NATS; 503 naming NATS when the connection is lost, and
naming the database when it does not answer (#15: a 503, not a 500)."""

import asyncio
import tempfile
from pathlib import Path

import httpx
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.net import free_port
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings


async def test_healthz_reports_a_lost_nats_connection(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'health.db'}"
    await upgrade_async(database_url)
    with tempfile.TemporaryDirectory(prefix="mb-nats-") as store:
        nats = start_embedded_nats(Path(store))
        settings = ConfigApiSettings(
            database_url=database_url,
            nats_url=nats.url,
            secret_key=generate_key(),
            var_dir=tmp_path,
        )
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://mailbridge") as client,
        ):
            healthy = await client.get("/healthz")
            assert (healthy.status_code, healthy.json()["nats"]) == (200, "ok")
            nats.stop()
            for _ in range(50):
                lost = await client.get("/healthz")
                if lost.status_code == 503:
                    break
                await asyncio.sleep(0.1)
            assert (lost.status_code, lost.json()["nats"]) == (503, "disconnected")


async def test_healthz_and_readyz_answer_503_while_the_database_is_down(tmp_path: Path) -> None:
    """#15: a database that does not answer is a 503 naming it, on /healthz as on /readyz, not a 500."""
    with tempfile.TemporaryDirectory(prefix="mb-nats-") as store:
        nats = start_embedded_nats(Path(store))
        try:
            settings = ConfigApiSettings(
                database_url=f"postgresql+asyncpg://nobody@127.0.0.1:{free_port('127.0.0.1')}/none",
                nats_url=nats.url, secret_key=generate_key(), var_dir=tmp_path, scheduler_tick_s=0,
                outbox_relay=False,
            )  # fmt: skip
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://mailbridge") as client,
            ):
                health = await client.get("/healthz")
                assert health.status_code == 503
                assert health.json()["status"] == "degraded"
                assert health.json()["database"].startswith("unreachable: ")
                assert health.json()["nats"] == "ok"
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["database"].startswith("unreachable: ")
        finally:
            nats.stop()
