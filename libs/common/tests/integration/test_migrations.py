"""Migrations run forward from empty and back on SQLite and PostgreSQL, and match the tables."""

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from mailbridge.common.db.engine import create_engine
from mailbridge.common.db.migrate import downgrade, upgrade
from mailbridge.common.db.schema import metadata
from sqlalchemy import Connection, inspect


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def _differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


async def test_upgrade_matches_models_and_downgrade_empties(empty_database_url: str) -> None:
    database_url = empty_database_url
    await asyncio.to_thread(upgrade, database_url)
    assert set(metadata.tables) <= await _tables(database_url)
    assert await _differences(database_url) == []
    await asyncio.to_thread(downgrade, database_url, "base")
    assert await _tables(database_url) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, database_url)
    assert set(metadata.tables) <= await _tables(database_url)
