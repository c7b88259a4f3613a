"""Alembic environment: runs migrations over the async engine, batch mode for SQLite."""

import asyncio

from alembic import context
from mailbridge.common.db.engine import create_engine
from mailbridge.common.db.outbox_lock import restore_sqlite_triggers
from mailbridge.common.db.schema import metadata
from sqlalchemy.engine import Connection

config = context.config
target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":  # a table copied in batch mode lost its triggers
            restore_sqlite_triggers(connection)


async def _run_online(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.attributes["database_url"], target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online(config.attributes["database_url"]))
