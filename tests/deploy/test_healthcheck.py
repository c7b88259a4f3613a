"""deploy/healthcheck.py, the images' health check and the exec probes of the services that
listen on no port yet: against real sockets and a real HTTP server on loopback."""

import importlib.util
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from deploy_files import ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck: Any = _load()


@pytest.fixture
def listening() -> Iterator[int]:
    """A port on loopback that accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as server:
        return int(server.getsockname()[1])  # closed once returned


def test_ready_when_nats_and_the_database_accept_connections(listening: int, closed_port: int) -> None:
    env = {
        "MAILBRIDGE_NATS_URL": f"nats://127.0.0.1:{closed_port},nats://127.0.0.1:{listening}",
        "MAILBRIDGE_DATABASE_URL": f"postgresql+asyncpg://mailbridge:pw@127.0.0.1:{listening}/mailbridge",
    }
    assert healthcheck.ready(env) == []  # one server of the NATS cluster is enough


def test_not_ready_names_what_is_unreachable(listening: int, closed_port: int) -> None:
    env = {
        "MAILBRIDGE_NATS_URL": f"nats://127.0.0.1:{closed_port}",
        "MAILBRIDGE_DATABASE_URL": f"postgresql+asyncpg://u:secret@127.0.0.1:{closed_port}/db",
    }
    problems = healthcheck.ready(env)
    assert problems == [
        f"NATS is not reachable at 127.0.0.1:{closed_port}",
        f"the database is not reachable at 127.0.0.1:{closed_port}",
    ]
    assert "secret" not in " ".join(problems)
    assert healthcheck.ready({"MAILBRIDGE_DATABASE_URL": "sqlite+aiosqlite:///x.db"}) == [
        "MAILBRIDGE_NATS_URL is not set"
    ]
    sqlite = {
        "MAILBRIDGE_NATS_URL": f"nats://127.0.0.1:{listening}",
        "MAILBRIDGE_DATABASE_URL": "sqlite:///x",
    }
    assert healthcheck.ready(sqlite) == []


@pytest.mark.parametrize(
    ("state", "alive"), [("S", True), ("R", True), ("D", True), ("Z", False), ("T", False)]
)
def test_live_reads_the_state_of_process_one(tmp_path: Path, state: str, alive: bool) -> None:
    stat = tmp_path / "stat"
    stat.write_text(f"1 (python -m mailbridge.fetcher (x)) {state} 0 1 1 0 -1\n")
    assert (healthcheck.live(str(stat)) == []) is alive


def test_live_in_this_container_or_machine() -> None:
    assert healthcheck.live() == []


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_is_healthy_only_on_2xx(http_base: str, closed_port: int) -> None:
    assert healthcheck.main(["http", f"{http_base}/healthz"]) == 0
    assert healthcheck.http_ok(f"{http_base}/degraded") == [f"{http_base}/degraded answered 503"]
    assert healthcheck.main(["http", f"{http_base}/degraded"]) == 1
    assert healthcheck.main(["http", f"http://127.0.0.1:{closed_port}/healthz"]) == 1


def test_a_wrong_call_is_exit_code_2() -> None:
    assert healthcheck.main([]) == 2
    assert healthcheck.main(["ready", "extra"]) == 2
