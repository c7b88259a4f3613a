"""Databases for the tests: a fresh SQLite file, or a fresh database on a PostgreSQL server.

PostgreSQL comes from MAILBRIDGE_TEST_DATABASE_URL (any database on the server; a new one is
created beside it and dropped afterwards), else from testcontainers where a Docker engine is
reachable, else from a private cluster of the machine's PostgreSQL package (`private_postgres`),
so a fresh machine runs the whole suite. Without the package either, PostgreSQL tests are
skipped locally (with the install command) and fail under CI.
"""

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from mailbridge.testkit.private_postgres import (
    PrivatePostgres,
    PrivatePostgresError,
    attach,
    missing_postgres,
)
from sqlalchemy.engine import URL, make_url

ENV_URL = "MAILBRIDGE_TEST_DATABASE_URL"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server for the tests."""


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'mailbridge.db'}"


def _docker_reachable() -> bool:
    return Path("/var/run/docker.sock").exists() or bool(os.environ.get("DOCKER_HOST"))


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server for the tests, and where it comes from (for the run's summary).

    `version`: the major version when known without connecting (a private cluster's), else "".
    """

    url: URL
    source: str
    version: str = ""


def private_cluster_wanted() -> bool:
    """Whether `postgres_server` would start a private cluster (nothing else is configured or
    reachable, and the package is installed)."""
    return not os.environ.get(ENV_URL) and not _docker_reachable() and missing_postgres() is None


@contextmanager
def postgres_server(shared: Path | None = None) -> Iterator[PostgresServer]:
    """The configured server, else a throw-away container where Docker is reachable, else a
    private cluster (stopped afterwards; with `shared`, the cluster in that folder, which its
    maker stops — see `private_postgres.attach`)."""
    configured = os.environ.get(ENV_URL)
    if configured:
        yield PostgresServer(make_url(configured), ENV_URL)
        return
    if _docker_reachable():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
            yield PostgresServer(make_url(container.get_connection_url()), "testcontainers", "16")
        return
    reason = missing_postgres()
    if reason is not None:
        raise PostgresUnavailable(f"no {ENV_URL}, no Docker engine, and {reason}")
    try:
        if shared is not None:
            attached = attach(shared)
            yield PostgresServer(attached.url, _private_source(attached.url), attached.version)
            return
        with PrivatePostgres() as cluster:
            yield PostgresServer(cluster.url, _private_source(cluster.url), cluster.version)
    except PrivatePostgresError as error:
        raise PostgresUnavailable(str(error)) from error


def _private_source(url: URL) -> str:
    return f"private cluster at {url.host}:{url.port}"


async def server_version(server: URL) -> str:
    """The server's major version ("15"), asked over a connection."""
    connection = await _connect(server)
    try:
        return str(connection.get_server_version().major)
    finally:
        await connection.close()


async def _connect(server: URL) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            host=server.host, port=server.port or 5432, user=server.username,
            password=server.password, database=server.database or "postgres",
        )  # fmt: skip
    except OSError as error:
        raise PostgresUnavailable(f"PostgreSQL at {server.host}:{server.port}: {error}") from error


async def _execute(server: URL, statement: str) -> None:
    connection = await _connect(server)
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
