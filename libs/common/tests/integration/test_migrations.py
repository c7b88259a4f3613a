"""Migrations run forward from empty and back on SQLite and PostgreSQL, and match the tables."""

import asyncio
import uuid
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from mailbridge.common.db.engine import create_engine
from mailbridge.common.db.migrate import downgrade, upgrade
from mailbridge.common.db.schema import metadata
from mailbridge.common.db.types import UtcDateTime
from sqlalchemy import Connection, String, Uuid, column, inspect, select, table, text


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


LARGE_VALUES = (
    ("messages", "raw"), ("outbox_messages", "raw"), ("outbox_messages", "request"), ("outbox_attachments", "data")
)  # fmt: skip


async def _compression(url: str) -> dict[str, str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                f"{table}.{column}": await connection.scalar(
                    text(
                        "SELECT nullif(attcompression::text, '') FROM pg_attribute"
                        " WHERE attrelid = CAST(:table AS regclass) AND attname = :column"
                    ),
                    {"table": table, "column": column},
                )
                for table, column in LARGE_VALUES
            }
    finally:
        await engine.dispose()


async def test_stored_mail_is_compressed_with_lz4_on_postgresql(empty_database_url: str) -> None:
    if not empty_database_url.startswith("postgresql"):
        return  # SQLite stores blobs as they are
    await asyncio.to_thread(upgrade, empty_database_url)
    lz4 = {f"{table}.{column}": "l" for table, column in LARGE_VALUES}
    assert await _compression(empty_database_url) == lz4, "lz4: pglz cost several times the database CPU"
    await asyncio.to_thread(downgrade, empty_database_url, "0004")
    assert set((await _compression(empty_database_url)).values()) == {None}, "back to the server's default"


async def test_0007_keeps_the_events_still_to_be_published_and_drops_the_published(
    empty_database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_database_url, "0006")
    engine = create_engine(empty_database_url)
    # The table as 0006 left it (the models no longer have `published_at`).
    events = table(
        "outbox_events", column("id", Uuid()), column("subject", String()), column("payload", String()),
        column("created_at", UtcDateTime()), column("published_at", UtcDateTime()),
    )  # fmt: skip
    insert = events.insert().values(subject="mailbridge.mail.sent.v1", payload="{}")
    now = datetime.now(UTC)
    pending, published = uuid.uuid4(), uuid.uuid4()
    try:
        async with engine.begin() as connection:
            await connection.execute(insert, {"id": pending, "created_at": now, "published_at": None})
            await connection.execute(insert, {"id": published, "created_at": now, "published_at": now})
        await asyncio.to_thread(upgrade, empty_database_url)
        async with engine.connect() as connection:
            left = list((await connection.execute(select(events.c.id))).scalars())
        assert left == [pending]
        await asyncio.to_thread(downgrade, empty_database_url, "0006")
        async with engine.connect() as connection:
            assert (
                await connection.scalar(text("SELECT count(*) FROM outbox_events WHERE published_at IS NULL"))
                == 1
            )
    finally:
        await engine.dispose()
