"""Server processes in a session of their own: output to a file, stopped by pid with their group.

A daemon never inherits the caller's stdout/stderr (Dovecot keeps fd 2 open for ever, so a
caller capturing output would hang). Each one leads its own session, so whatever it leaves
behind can be ended through its process group, while the leader is still an unreaped zombie and
its pid can therefore not have been reused.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn(
    argv: Sequence[str], output: Path, env: Mapping[str, str] | None = None
) -> "subprocess.Popen[bytes]":
    """Start `argv` as a session leader, stdin from /dev/null, stdout and stderr into `output`."""
    with output.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603 - fixed server binaries and arguments
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
        )


def _exited_unreaped(pid: int) -> bool:
    """Whether `pid` (our child) has exited; it is left unreaped."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _live_children(pid: int) -> set[str]:
    """The names of `pid`'s children that are not zombies (exited, waiting to be reaped)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (FileNotFoundError, ProcessLookupError):  # the process is gone (ESRCH while reading)
        return set()
    names = set()
    for child in children:
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):  # the child exited between the two reads
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        if rest.split()[0] != "Z":
            names.add(name)
    return names


def _terminate(pid: int, timeout: float, idle_children: frozenset[str] | None, grace: float) -> None:
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while not _exited_unreaped(pid):
        waited = time.monotonic() - started
        if idle_children is not None and (waited > grace or _live_children(pid) <= idle_children):
            return
        if waited > timeout:
            return
        time.sleep(0.002)


def stop(
    process: "subprocess.Popen[bytes]",
    timeout: float = 10.0,
    *,
    idle_children: frozenset[str] | None = None,
    grace: float = 0.5,
) -> int:
    """SIGTERM the leader and wait for it; then SIGKILL what is left of its group. Its exit code.

    `idle_children`: names of children whose survival alone means the leader has nothing left
    to do but wait (Dovecot's master keeps its log process to the end, then sleeps a second):
    the leader is killed then, or after `grace` seconds at the latest.
    """
    if process.returncode is None:
        _terminate(process.pid, timeout, idle_children, grace)
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)  # a zombie by now, unless it ignored SIGTERM
    # Reaped already (it died on its own): the kernel does not reuse a pid while a process
    # group of that number still has members, so its leftovers are still ours to end.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def describe_failure(name: str, output: Path, *logs: Path) -> str:
    """The tail of a server's output and logs, for an error message."""
    parts = [f"{name} failed"]
    for path in (output, *logs):
        if path.exists() and path.stat().st_size:
            tail = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path}:\n" + "\n".join(tail))
    return "\n".join(parts)
