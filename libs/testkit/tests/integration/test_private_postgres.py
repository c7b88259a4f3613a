"""The private PostgreSQL cluster (#15, tests on a fresh machine): it starts, serves a database on
127.0.0.1 only, and leaves nothing behind when stopped, nor after its owner was killed."""

import os
from pathlib import Path

import asyncpg
import pytest
from mailbridge.testkit.databases import (
    ENV_URL,
    PostgresServer,
    fresh_postgres_database,
    postgres_server,
    private_cluster_wanted,
)
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.ports import listening_sockets
from mailbridge.testkit.private_postgres import (
    PrivatePostgres,
    attach,
    make_folder,
    missing_postgres,
    shared_folder,
    stop_cluster_in,
)
from mailbridge.testkit.sweep import OWNER_FILE
from sqlalchemy.engine import URL, make_url


def _require_postgres_package() -> None:
    reason = missing_postgres()
    if reason is not None:
        unavailable(reason)


async def _round_trip(server: URL) -> list[str]:
    """Make a fresh database on `server`, write a row into it, read it back."""
    async with fresh_postgres_database(server) as url:
        database = make_url(url)
        connection = await asyncpg.connect(
            host=database.host, port=database.port, user=database.username, database=database.database
        )
        try:
            await connection.execute("CREATE TABLE mail (subject text)")
            await connection.execute("INSERT INTO mail VALUES ('Grüße')")
            return [row["subject"] for row in await connection.fetch("SELECT subject FROM mail")]
        finally:
            await connection.close()


def _uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_a_cluster_serves_a_database_on_loopback_and_leaves_nothing_when_stopped() -> None:
    _require_postgres_package()
    cluster = PrivatePostgres().start()
    try:
        assert await _round_trip(cluster.url) == ["Grüße"]
        ports = {address for address, port in listening_sockets() if port == cluster.port}
        assert ports == {"127.0.0.1"}
        assert cluster.postmaster_pid is not None
        pid = cluster.postmaster_pid
        if os.geteuid() == 0:  # initdb refuses root: the cluster runs as `postgres`
            assert _uid(pid) != 0
        assert (cluster.folder / f".s.PGSQL.{cluster.port}").is_socket()  # its socket is in its folder
    finally:
        cluster.stop()
    assert not cluster.folder.exists()
    assert not _alive(pid)
    assert cluster.port not in {port for _, port in listening_sockets()}


async def test_a_killed_runs_cluster_is_ended_and_its_folder_removed_at_the_next_start() -> None:
    _require_postgres_package()
    stale = PrivatePostgres(folder=make_folder()).start()
    assert stale.postmaster_pid is not None
    pid = stale.postmaster_pid
    (stale.folder / OWNER_FILE).write_text("2147483646 0")  # an owner that no longer exists
    with PrivatePostgres() as fresh:
        assert await _round_trip(fresh.url) == ["Grüße"]
    assert not stale.folder.exists()
    stale.stop()  # reaps our child, which the sweep killed
    assert not _alive(pid)


async def test_processes_sharing_a_folder_share_one_cluster_which_its_maker_stops() -> None:
    """The pytest-xdist path: every worker attaches, the first starts, the controller stops."""
    _require_postgres_package()
    folder = shared_folder()
    try:
        first, second = attach(folder), attach(folder)
        assert first == second
        assert await _round_trip(first.url) == ["Grüße"]
        pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
    finally:
        stop_cluster_in(folder)
    assert not folder.exists()
    assert not _alive(pid)


def test_a_configured_url_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_URL, "postgresql+asyncpg://someone@127.0.0.1:5999/elsewhere")
    assert not private_cluster_wanted()
    with postgres_server() as server:
        assert server == PostgresServer(make_url(os.environ[ENV_URL]), ENV_URL)


def test_without_a_url_or_docker_the_private_cluster_is_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    _require_postgres_package()
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    if Path("/var/run/docker.sock").exists():
        pytest.skip("a Docker engine is reachable here: testcontainers comes before the private cluster")
    assert private_cluster_wanted()
    with postgres_server() as server:
        assert server.source == f"private cluster at 127.0.0.1:{server.url.port}"
        assert server.version.isdigit()
    assert server.url.port not in {port for _, port in listening_sockets()}


async def test_a_halted_cluster_refuses_connections_and_resumes_on_its_port_with_its_data() -> None:
    """For fault tests (a PostgreSQL outage while services run): halt, then resume."""
    _require_postgres_package()
    with PrivatePostgres() as cluster:
        address = {
            "host": cluster.url.host,
            "port": cluster.url.port,
            "user": "postgres",
            "database": "postgres",
        }
        connection = await asyncpg.connect(**address)
        await connection.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        cluster.halt()
        assert not cluster.running
        with pytest.raises(ConnectionRefusedError):
            await asyncpg.connect(**address)
        cluster.resume()
        assert cluster.running
        await connection.close()  # its server went away: closing is all that is left to do
        connection = await asyncpg.connect(**address)
        assert await connection.fetchval("SELECT n FROM kept") == 7
        await connection.close()
