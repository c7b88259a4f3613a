"""#10 item 5: an unexpected database error answers a 500 problem and is logged once, with its
statement but without the values it carried, even where the driver's message quotes one."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from mailbridge.common.db.engine import is_sqlite
from mailbridge.common.secrets import generate_key
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings
from sqlalchemy import text

SECRET = "hunter2-secret-value"


@pytest.fixture
async def failing_app(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    """The app with one more route whose statement fails with SECRET as its parameter: on
    PostgreSQL asyncpg refuses the value and quotes it; on SQLite the table does not exist."""
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=nats_url, secret_key=generate_key(),
        var_dir=tmp_path, scheduler_tick_s=0,
    )  # fmt: skip
    app = create_app(settings)
    statement = (
        "INSERT INTO no_such_table VALUES (:v)" if is_sqlite(database_url) else "SELECT CAST(:v AS INTEGER)"
    )

    async def fail(request: Request) -> None:
        async with request.app.state.context.sessions() as session:
            await session.execute(text(statement), {"v": SECRET})

    app.add_api_route("/fail", fail, methods=["POST"])
    async with app.router.lifespan_context(app):
        yield app


async def test_a_database_error_is_a_500_logged_without_its_values(
    failing_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=failing_app)  # raises what escapes the app: nothing may
    async with httpx.AsyncClient(transport=transport, base_url="http://mailbridge") as client:
        response = await client.post("/fail")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "an unexpected error occurred; it was logged"
    assert "unhandled database error" in caplog.text
    assert "AS INTEGER)" in caplog.text or "no_such_table" in caplog.text, "the statement is logged"
    assert SECRET not in caplog.text
