"""Stack folders left behind by a killed test run: their servers are ended, the folder removed.

Each stack folder names its owner (pid and start time, so a reused pid does not count). A
folder whose owner is gone still may have a Dovecot or Postfix master running from it: such a
master is found by the folder in its command line and killed with its process group.
"""

import contextlib
import os
import shutil
import signal
from pathlib import Path

OWNER_FILE = ".owner"
STACK_PREFIX = "mbt-"


def _identity(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rpartition(")")[2].split()
    return f"{pid} {fields[19]}"  # field 22 of stat: the start time


def claim(folder: Path) -> None:
    """Mark `folder` as belonging to this process."""
    (folder / OWNER_FILE).write_text(_identity(os.getpid()) or str(os.getpid()))


def _owner_alive(folder: Path) -> bool:
    try:
        owner = (folder / OWNER_FILE).read_text()
    except FileNotFoundError:
        return True  # just created, not claimed yet
    return _identity(int(owner.split()[0])) == owner


def _masters_using(folder: Path) -> list[int]:
    needle = f"{folder}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() and os.getpgid(int(entry.name)) == int(entry.name):
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def remove_stack(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def sweep_stale_stacks(parent: Path) -> None:
    """End the servers of, and remove, every stack folder in `parent` whose owner has exited."""
    for folder in parent.glob(f"{STACK_PREFIX}*"):
        if not folder.is_dir() or _owner_alive(folder):
            continue
        for leader in _masters_using(folder):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(leader, signal.SIGKILL)
        remove_stack(folder)
