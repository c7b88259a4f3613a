"""Databases for the tests: a fresh SQLite file, or a fresh database on a PostgreSQL server.

PostgreSQL comes from MAILBRIDGE_TEST_DATABASE_URL (any database on the server; a new one is
created beside it and dropped afterwards), else from testcontainers where a Docker engine is
reachable. Without either, PostgreSQL tests are skipped locally and fail under CI.
"""

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

ENV_URL = "MAILBRIDGE_TEST_DATABASE_URL"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server for the tests."""


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'mailbridge.db'}"


def _docker_reachable() -> bool:
    return Path("/var/run/docker.sock").exists() or bool(os.environ.get("DOCKER_HOST"))


@contextmanager
def postgres_server() -> Iterator[URL]:
    """The configured server, else a throw-away container where Docker is reachable."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield make_url(configured)
        return
    if not _docker_reachable():
        raise PostgresUnavailable(f"set {ENV_URL} or make a Docker engine reachable")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
        yield make_url(container.get_connection_url())


async def _execute(server: URL, statement: str) -> None:
    try:
        connection = await asyncpg.connect(
            host=server.host, port=server.port or 5432, user=server.username,
            password=server.password, database=server.database or "postgres",
        )  # fmt: skip
    except OSError as error:
        raise PostgresUnavailable(f"PostgreSQL at {server.host}:{server.port}: {error}") from error
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@asynccontextmanager
async def fresh_postgres_database(server: URL) -> AsyncIterator[str]:
    """Create an empty database on `server`; yield its async URL; drop it afterwards."""
    name = f"mailbridge_test_{secrets.token_hex(4)}"
    await _execute(server, f'CREATE DATABASE "{name}"')
    try:
        url = server.set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        await _execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
