"""The pieces of the fault-survival suite (#15 "Fault survival"): `mailbridge run` against a NATS
server and a PostgreSQL cluster of the test's own, so the test can take either away and bring it
back on the same port with the same data, and find and kill the runner's service processes.

The runner's supervisor restarts a killed service (launcher/supervisor.py); nothing here starts a
service, so a service that does not come back, or does not reconnect, shows as a failure.
`children` and `delivered_message_ids` serve the runner's and the sender crash tests too.
"""

import hashlib
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from mailbridge.common.nats_embedded import EmbeddedNats, start_embedded_nats
from mailbridge.testkit.users import MailUser


def children(parent: int, module: str) -> list[int]:
    """Processes started by `parent` running `python -m module`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and module.encode() in command:
            found.append(int(entry.name))
    return found


def wait_until(condition: Callable[[], bool], within_s: float, what: str) -> float:
    """Seconds until `condition` held; AssertionError naming `what` after `within_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within_s, f"{what}: not within {within_s} s"
        time.sleep(0.1)
    return time.monotonic() - started


def health_status(base_url: str, path: str = "/healthz") -> int:
    """config-api's /healthz (or /readyz) status; 0 when nothing answers (the API is down)."""
    try:
        return httpx.get(f"{base_url}{path}", timeout=3).status_code
    except httpx.HTTPError:
        return 0


def healthy(base_url: str) -> bool:
    """Both of config-api's probes say 200."""
    return all(health_status(base_url, path) == 200 for path in ("/healthz", "/readyz"))


def kill_service(runner_pid: int, module: str, within_s: float) -> float:
    """SIGKILL the runner's `module` process; seconds until the supervisor runs a new one."""
    (old,) = children(runner_pid, module)
    os.kill(old, signal.SIGKILL)
    return wait_until(
        lambda: any(pid != old for pid in children(runner_pid, module)), within_s, f"{module} restarted"
    )


@dataclass
class RestartableNats:
    """A JetStream server whose store and port outlive a restart (what a NATS pod's volume keeps)."""

    store: Path
    port: int
    server: EmbeddedNats | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = start_embedded_nats(self.store, port=self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def sha256s(messages: list[bytes]) -> list[str]:
    return sorted(hashlib.sha256(raw).hexdigest() for raw in messages)


def delivered_message_ids(user: MailUser) -> Counter[str]:
    """How many times each Message-ID arrived in `user`'s Maildir."""
    found: Counter[str] = Counter()
    for sub in ("new", "cur"):
        folder = user.maildir / sub
        for path in folder.glob("*") if folder.exists() else []:
            for line in path.read_bytes().split(b"\n"):
                if line.lower().startswith(b"message-id:"):
                    found[line.split(b":", 1)[1].strip().decode()] += 1
                    break
    return found
