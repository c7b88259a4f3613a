"""pytest fixtures for the real infrastructure every service's tests need: databases and NATS.

`database_url` runs each test that uses it twice: on SQLite and on PostgreSQL.
"""

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mailbridge.testkit.databases import (
    PostgresUnavailable,
    fresh_postgres_database,
    postgres_server,
    sqlite_url,
)
from mailbridge.testkit.nats import nats_server

# The mail servers' fixtures (`mail_stack`, `mail_user`) come with this plugin.

BACKENDS = ["sqlite", "postgresql"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip locally; under CI a missing service is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"required test service unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[object]:
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as error:
        unavailable(str(error))


@asynccontextmanager
async def _empty_database(request: pytest.FixtureRequest, folder: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(folder)
        return
    server = request.getfixturevalue("postgres_server_url")
    try:
        async with fresh_postgres_database(server) as url:
            yield url
    except PostgresUnavailable as error:
        unavailable(str(error))


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """An empty database on each backend in turn, shared by the session (migrate it first)."""
    async with _empty_database(request, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own for one test, on each backend in turn."""
    async with _empty_database(request, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    with nats_server() as url:
        yield url
