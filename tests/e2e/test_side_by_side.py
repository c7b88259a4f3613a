"""Two instances at once: one embedded (SQLite, own NATS), one on PostgreSQL and external NATS."""

import asyncio
from typing import Any

import httpx
import pytest
from e2e_system import RunningSystem, start_make_run
from mailbridge.testkit.databases import fresh_postgres_database

SERVER = {
    "name": "Office", "smtp_host": "smtp.example.com",
    "incoming_protocol": "pop3", "incoming_host": "pop.example.com",
}  # fmt: skip


async def _create_and_list_server(system: RunningSystem) -> list[str]:
    headers = {"Authorization": f"Bearer {system.admin_key()}"}
    async with httpx.AsyncClient(base_url=f"{system.base_url}/api/v1", headers=headers) as client:
        created = await client.post("/mail-servers", json=SERVER)
        assert created.status_code == 201, created.text
        listed = (await client.get("/mail-servers")).json()["items"]
    return [server["name"] for server in listed]


async def test_embedded_and_postgres_instances_side_by_side(
    tmp_path_factory: pytest.TempPathFactory, postgres_server_url: Any, nats_url: str
) -> None:
    async with fresh_postgres_database(postgres_server_url) as database_url:
        embedded, external = await asyncio.gather(
            asyncio.to_thread(start_make_run, tmp_path_factory.mktemp("one") / "var"),
            asyncio.to_thread(
                start_make_run,
                tmp_path_factory.mktemp("two") / "var",
                {"MAILBRIDGE_DATABASE_URL": database_url, "MAILBRIDGE_NATS_URL": nats_url},
            ),
        )
        try:
            assert embedded.base_url != external.base_url
            assert embedded.nats_url() != nats_url
            assert external.nats_url() == nats_url
            assert not (external.var_dir / "mailbridge.db").exists()
            assert not (external.var_dir / "jetstream").exists()
            assert await _create_and_list_server(embedded) == ["Office"]
            assert await _create_and_list_server(external) == ["Office"]
        finally:
            embedded.interrupt()
            external.interrupt()
