"""pytest fixtures for the real infrastructure every service's tests need: databases and NATS.

`database_url` runs each test that uses it twice: on SQLite and on PostgreSQL. PostgreSQL is the
configured server, a container, or a private cluster (`databases.postgres_server`), one per
session; under pytest-xdist the workers share one private cluster, which the controller stops.
The run's summary says which databases the tests used ("databases: SQLite + PostgreSQL 15 (…)").
"""

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mailbridge.testkit.databases import (
    PostgresServer,
    PostgresUnavailable,
    fresh_postgres_database,
    postgres_server,
    private_cluster_wanted,
    server_version,
    sqlite_url,
)
from mailbridge.testkit.nats import nats_server
from mailbridge.testkit.private_postgres import shared_folder, stop_cluster_in

# The mail servers' fixtures (`mail_stack`, `mail_user`) come with this plugin.

BACKENDS = ["sqlite", "postgresql"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip locally; under CI a missing service is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"required test service unavailable in CI: {reason}")
    pytest.skip(reason)


# --- which databases the run used, for its summary ---------------------------------------------


@dataclass
class DatabasesUsed:
    """Filled in as the session's database fixtures run (a worker's is merged into the
    controller's); `summary_line` turns it into the summary's line."""

    sqlite: bool = False
    postgres_source: str | None = None
    postgres_version: str = ""
    postgres_unavailable: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def merge(self, other: dict[str, Any]) -> None:
        self.sqlite = self.sqlite or bool(other.get("sqlite"))
        self.postgres_source = self.postgres_source or other.get("postgres_source")
        self.postgres_version = self.postgres_version or str(other.get("postgres_version") or "")
        self.postgres_unavailable = self.postgres_unavailable or other.get("postgres_unavailable")


def summary_line(used: DatabasesUsed) -> str | None:
    """ "databases: SQLite + PostgreSQL 15 (private cluster at 127.0.0.1:PORT)"; None when no
    test used a database."""
    parts = ["SQLite"] if used.sqlite else []
    if used.postgres_source is not None:
        version = f" {used.postgres_version}" if used.postgres_version else ""
        parts.append(f"PostgreSQL{version} ({used.postgres_source})")
    if not parts and used.postgres_unavailable is None:
        return None
    line = f"databases: {' + '.join(parts) or 'none'}"
    if used.postgres_source is None and used.postgres_unavailable is not None:
        line += f"; PostgreSQL skipped: {used.postgres_unavailable}"
    return line


_USED = pytest.StashKey[DatabasesUsed]()
_SHARED = pytest.StashKey[Path]()
_WORKER_KEY = "mailbridge_databases"
_SHARED_KEY = "mailbridge_private_postgres"


def _used(config: pytest.Config) -> DatabasesUsed:
    return config.stash.setdefault(_USED, DatabasesUsed())


def _distributes(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist controller that will start workers."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return False
    return config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))


class _XdistController:
    """The controller's side under pytest-xdist: hands the shared cluster's folder to each worker
    and collects what each worker's tests used. Registered only when xdist runs (its hooks)."""

    def __init__(self, used: DatabasesUsed, folder: Path | None) -> None:
        self.used, self.folder = used, folder

    def pytest_configure_node(self, node: Any) -> None:
        if self.folder is not None:
            node.workerinput[_SHARED_KEY] = str(self.folder)

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        self.used.merge(getattr(node, "workeroutput", {}).get(_WORKER_KEY, {}))


def pytest_configure(config: pytest.Config) -> None:
    used = _used(config)
    if _distributes(config) and not config.getoption("collectonly"):
        folder = shared_folder() if private_cluster_wanted() else None
        if folder is not None:
            config.stash[_SHARED] = folder
        config.pluginmanager.register(_XdistController(used, folder), "mailbridge-databases-xdist")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_KEY] = _used(session.config).as_dict()


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_SHARED, None)
    if folder is not None:
        stop_cluster_in(folder)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    line = summary_line(_used(config))
    if line is not None:
        terminalreporter.write_line(line)


# --- the fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_source(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """The session's PostgreSQL server and where it comes from; see `databases.postgres_server`."""
    used = _used(request.config)
    workerinput = getattr(request.config, "workerinput", {})
    shared = Path(workerinput[_SHARED_KEY]) if _SHARED_KEY in workerinput else None
    try:
        with postgres_server(shared) as server:
            used.postgres_source, used.postgres_version = server.source, server.version
            yield server
    except PostgresUnavailable as error:
        used.postgres_unavailable = str(error)
        unavailable(str(error))


@pytest.fixture(scope="session")
def postgres_server_url(postgres_source: PostgresServer) -> object:
    """The session's PostgreSQL server URL (a `sqlalchemy.engine.URL`; any database on it)."""
    return postgres_source.url


@asynccontextmanager
async def _empty_database(request: pytest.FixtureRequest, folder: Path) -> AsyncIterator[str]:
    used = _used(request.config)
    if request.param == "sqlite":
        used.sqlite = True
        yield sqlite_url(folder)
        return
    server: PostgresServer = request.getfixturevalue("postgres_source")
    try:
        if not used.postgres_version:
            used.postgres_version = await server_version(server.url)
        async with fresh_postgres_database(server.url) as url:
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
