"""`mailbridge run` (what `make run` calls): a private data folder (#10 item 7), every service
running, the OAuth broker answering token requests (#12), and a service that dies is restarted
while the rest keeps serving (#10 item 8, runner part)."""

import asyncio
import os
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from e2e_system import RunningSystem, start_make_run
from fault_rig import children as _children
from mailbridge.common.oauth_requests import (
    TOKEN_REPLY,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenRefused,
    Refusal,
)
from mailbridge.launcher.runner import SERVICE_MODULES
from nats.errors import NoRespondersError

MAILBRIDGE_RUN = (str(Path(sys.executable).parent / "mailbridge"), "run")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    """Started on a data folder an older version left readable by everyone."""
    var_dir = tmp_path_factory.mktemp("runner") / "var"
    (var_dir / "jetstream").mkdir(parents=True)
    var_dir.chmod(0o755)
    (var_dir / "jetstream").chmod(0o755)
    (var_dir / "notes.txt").write_text("left by an older version")
    (var_dir / "notes.txt").chmod(0o644)
    running = start_make_run(var_dir, command=MAILBRIDGE_RUN)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.interrupt()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_is_private(system: RunningSystem) -> None:
    var_dir = system.var_dir
    assert _mode(var_dir) == 0o700
    for name in ("mailbridge.db", "mailbridge.db-wal", "mailbridge.db-shm", "secret.key", "admin-api-key"):
        assert _mode(var_dir / name) == 0o600, name
    assert _mode(var_dir / "notes.txt") == 0o600, "what was there is tightened"
    inside = list((var_dir / "jetstream").rglob("*"))
    assert any(path.is_file() for path in inside), "the JetStream store has files"
    for path in [var_dir / "jetstream", *inside]:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def _wait_for_new_child(system: RunningSystem, module: str, old: int, within_s: float) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        fresh = [pid for pid in _children(system.process.pid, module) if pid != old]
        if fresh:
            return fresh[0]
        time.sleep(0.1)
    raise AssertionError(f"{module} not running again within {within_s} s:\n{system.output()[-3000:]}")


def test_every_service_runs(system: RunningSystem) -> None:
    for module in SERVICE_MODULES:
        assert len(_children(system.process.pid, module)) == 1, f"{module}:\n{system.output()[-3000:]}"


async def _token_request(nats_url: str, body: bytes, within_s: float) -> bytes:
    """One request (short timeout); asked again while no broker has subscribed yet."""
    client = await nats.connect(nats_url)
    try:
        deadline = time.monotonic() + within_s
        while True:
            try:
                return (await client.request(TOKEN_REQUEST_SUBJECT, body, timeout=2.0)).data
            except NoRespondersError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await client.close()


def test_the_oauth_broker_answers_a_token_request(system: RunningSystem) -> None:
    body = b'{"account_id": "01a21a80-4577-7c31-aec5-77c42ab161e2"}'
    reply = TOKEN_REPLY.validate_json(asyncio.run(_token_request(system.nats_url(), body, within_s=30)))
    assert isinstance(reply, AccessTokenRefused)
    assert reply.error is Refusal.NOT_CONNECTED


def test_a_killed_service_is_restarted_with_a_backoff_and_the_api_keeps_answering(
    system: RunningSystem,
) -> None:
    module = "mailbridge.fetcher"
    [first] = _children(system.process.pid, module)
    os.kill(first, signal.SIGKILL)
    second = _wait_for_new_child(system, module, first, within_s=10)
    assert httpx.get(f"{system.base_url}/healthz", timeout=5).status_code == 200
    assert f"{module} (pid {first}) died with signal SIGKILL" in system.output()
    assert "restarting it in 1 s" in system.output()

    os.kill(second, signal.SIGKILL)
    _wait_for_new_child(system, module, second, within_s=10)
    assert f"{module} (pid {second}) died with signal SIGKILL" in system.output()
    assert "restarting it in 2 s (death 2 in a row)" in system.output()
    headers = {"Authorization": f"Bearer {system.admin_key()}"}
    assert httpx.get(f"{system.base_url}/api/v1/users", headers=headers, timeout=5).status_code == 200


def test_ctrl_c_still_stops_everything(system: RunningSystem) -> None:
    children = [
        pid
        for m in ("mailbridge.config_api", "mailbridge.fetcher", "mailbridge.oauth_broker")
        for pid in _children(system.process.pid, m)
    ]
    assert children
    system.interrupt()
    assert system.process.returncode == 0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid
