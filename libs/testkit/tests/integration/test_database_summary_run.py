"""A whole pytest run (a subprocess) on the private cluster, alone and under pytest-xdist: its
summary names the databases and where PostgreSQL came from, and the cluster is gone afterwards
(#15, tests on a fresh machine). A configured server's line: test_database_summary (unit)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mailbridge.testkit.databases import ENV_URL
from mailbridge.testkit.fixtures import unavailable
from mailbridge.testkit.ports import listening_sockets
from mailbridge.testkit.private_postgres import FOLDER_PREFIX, missing_postgres
from mailbridge.testkit.stack import DEFAULT_PARENT

pytestmark = pytest.mark.slow

INNER_TEST = """
import os
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url


async def test_a_database(empty_database_url, tmp_path_factory):
    url = make_url(empty_database_url)
    if url.drivername.startswith("postgresql"):
        connection = await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                           database=url.database)
        assert await connection.fetchval("SELECT 1") == 1
        await connection.close()
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (Path(os.environ["PORTS_FOLDER"]) / worker).write_text(str(url.port))
"""
SUMMARY = re.compile(r"^databases: SQLite \+ PostgreSQL (\d+) \((.*)\)$", re.MULTILINE)


def _run(folder: Path, *arguments: str, database_url: str | None) -> tuple[str, str, dict[str, int]]:
    (folder / "test_inner.py").write_text(INNER_TEST)
    ports = folder / "ports"
    ports.mkdir()
    environment = {  # not the xdist worker's own variables, when this test runs under pytest-xdist
        key: value for key, value in os.environ.items()
        if key not in {ENV_URL, "DOCKER_HOST"} and not key.startswith("PYTEST_XDIST")
    }  # fmt: skip
    environment |= {"PORTS_FOLDER": str(ports), "CI": ""} | ({ENV_URL: database_url} if database_url else {})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "mailbridge.testkit.fixtures", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=session",
         "-o", "asyncio_default_test_loop_scope=session", "--rootdir", str(folder), *arguments,
         str(folder / "test_inner.py")],
        capture_output=True, text=True, cwd=folder, env=environment, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = SUMMARY.search(done.stdout)
    assert found is not None, done.stdout
    return found[1], found[2], {path.name: int(path.read_text()) for path in ports.iterdir()}


def _require_private_cluster() -> None:
    reason = missing_postgres()
    if reason is not None:
        unavailable(reason)
    if Path("/var/run/docker.sock").exists():
        pytest.skip("a Docker engine is reachable here: testcontainers comes before the private cluster")


def _no_cluster_on(port: int) -> bool:
    serving = [path for path in DEFAULT_PARENT.glob(f"{FOLDER_PREFIX}*/data/postmaster.pid")
               if f"\n{port}\n" in path.read_text(errors="replace")]  # fmt: skip
    return not serving and port not in {listening for _, listening in listening_sockets()}


def test_a_run_without_a_url_names_its_private_cluster_and_stops_it(tmp_path: Path) -> None:
    _require_private_cluster()
    version, source, ports = _run(tmp_path, database_url=None)
    assert version.isdigit()
    assert source == f"private cluster at 127.0.0.1:{ports['main']}"
    assert _no_cluster_on(ports["main"])


def test_xdist_workers_share_one_private_cluster_which_the_controller_stops(tmp_path: Path) -> None:
    _require_private_cluster()
    _, source, ports = _run(tmp_path, "-n", "2", "--dist", "each", database_url=None)
    assert set(ports) == {"gw0", "gw1"}
    assert len(set(ports.values())) == 1, ports
    assert source == f"private cluster at 127.0.0.1:{ports['gw0']}"
    assert _no_cluster_on(ports["gw0"])
