"""Postfix's `smtp-sink` on a free loopback port: accepts any mail (and any AUTH), keeps none.

For send benchmarks, where Postfix's queue and Dovecot would measure themselves instead of the
client. Plain SMTP only: it offers no STARTTLS. `options` pass through (e.g. "-c" prints running
counters into `output`, "-M", "100" exits after 100 messages, "-r", "RCPT" answers 4xx to RCPT).
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mailbridge.testkit import processes
from mailbridge.testkit.ports import free_port, wait_listening


@dataclass
class SmtpSink:
    host: str
    port: int
    output: Path
    process: "subprocess.Popen[bytes]"

    def stop(self, timeout: float = 10.0) -> None:
        processes.stop(self.process, timeout)


def start_smtp_sink(
    output: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    options: Sequence[str] = (),
    backlog: int = 256,
    timeout: float = 10.0,
) -> SmtpSink:
    """Start smtp-sink (its stdout and stderr into `output`); return once it LISTENs."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    port = port or free_port(host)
    endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    as_user = ["-u", "postfix"] if os.geteuid() == 0 else []  # it refuses to run as root
    process = processes.spawn([binary, *as_user, *options, endpoint, str(backlog)], output)
    sink = SmtpSink(host, port, output, process)
    try:
        wait_listening(port, timeout, host=host, process=process)
    except (TimeoutError, RuntimeError):
        sink.stop()
        raise
    return sink


@contextmanager
def smtp_sink(
    *, host: str = "127.0.0.1", options: Sequence[str] = (), backlog: int = 256
) -> Iterator[SmtpSink]:
    """A running smtp-sink for the `with` block; its output file is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="mb-sink-") as folder:
        sink = start_smtp_sink(Path(folder) / "smtp-sink.out", host=host, options=options, backlog=backlog)
        try:
            yield sink
        finally:
            sink.stop()
