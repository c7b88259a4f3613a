"""The whole system started the way a person starts it: `make run`, on free loopback ports."""

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mailbridge.common.net import free_port
from mailbridge.testkit.stack import MailStack
from mailbridge.testkit.users import MailUser

REPO = Path(__file__).resolve().parents[2]
# The suites that start many processes at once (three fetchers and 300 accounts, `mailbridge run`
# through NATS and PostgreSQL restarts, the crash tests): under pytest-xdist (`make test`: -n auto
# --dist loadgroup) one worker runs them one after another, so two never starve each other.
HEAVY = pytest.mark.xdist_group("heavy-e2e")
KEY_LINE = re.compile(r"^(mbk_[0-9a-f]{32}_\S+)$", re.MULTILINE)
NATS_LINE = re.compile(r"NATS at (nats://\S+),")


@dataclass
class RunningSystem:
    process: subprocess.Popen[bytes]
    base_url: str
    var_dir: Path
    log: Path
    errors: Path | None = None  # stderr (the services' log lines), when kept apart from stdout

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def admin_key(self) -> str:
        match = KEY_LINE.search(self.output())
        assert match, f"no admin key printed:\n{self.output()}"
        return match.group(1)

    def nats_url(self) -> str:
        match = NATS_LINE.search(self.output())
        assert match, self.output()
        return match.group(1)

    def interrupt(self, timeout_s: float = 30) -> None:
        """Ctrl-C: SIGINT to the foreground process group, then wait for all of it to end."""
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout_s)


MAKE_RUN = ("make", "--no-print-directory", "run")


def start_make_run(
    var_dir: Path,
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 180,
    command: Sequence[str] = MAKE_RUN,
    split_stderr: bool = False,
) -> RunningSystem:
    """`make run`, or another `command` that starts the system the same way (`mailbridge run`).
    With `split_stderr`, stderr (where every log line goes) is kept apart from stdout, in `errors`."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILBRIDGE_")}
    env |= {"MAILBRIDGE_VAR_DIR": str(var_dir), "MAILBRIDGE_API_PORT": str(port)}
    env |= extra_env or {}
    log = var_dir.parent / f"{var_dir.name}.log"
    errors = var_dir.parent / f"{var_dir.name}.stderr.log" if split_stderr else None
    with log.open("wb") as sink, (errors or Path(os.devnull)).open("wb") as error_sink:
        process = subprocess.Popen(
            list(command), cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=error_sink if errors else subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    system = RunningSystem(process, f"http://127.0.0.1:{port}", var_dir, log, errors)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make run exited with {process.returncode}:\n{system.output()}")
        try:
            if httpx.get(f"{system.base_url}/healthz", timeout=1).status_code == 200:
                return system
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    system.interrupt()
    raise TimeoutError(f"no /healthz within {timeout_s} s:\n{system.output()}")


@contextmanager
def make_run(var_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningSystem]:
    """`start_make_run`, interrupted at the end unless it already stopped."""
    running = start_make_run(var_dir, extra_env)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.interrupt()


def stack_account(api: httpx.Client, stack: MailStack, user: MailUser) -> dict[str, Any]:
    """Through the API: a server for the harness's Postfix and Dovecot (Sent folder "Sent"), a user
    Ann and her account for `user`'s mailbox there."""
    server = api.post("/mail-servers", json={
        "name": "Stack", "smtp_host": f"127.0.0.1:{stack.ports.submission}", "smtp_encryption": "auto",
        "smtp_auth": True, "incoming_protocol": "imap", "incoming_host": f"127.0.0.1:{stack.ports.imaps}",
        "incoming_tls_mode": "implicit", "sent_folder": "Sent",
    }).json()  # fmt: skip
    owner = api.post("/users", json={"name": "Ann", "email": "ann@example.com"}).json()
    account: dict[str, Any] = api.post("/mail-accounts", json={
        "owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"], "login": user.address,
        "password": user.password, "address": user.address,
    }).json()  # fmt: skip
    return account
