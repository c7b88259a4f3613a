"""A private PostgreSQL cluster for the tests on a machine with neither a configured server nor
Docker: Debian's `postgresql` package, its binaries used directly, nothing of the system's own
cluster touched.

`initdb` makes a cluster in `<parent>/mbt-pg-XXXX/data` (trust authentication for the superuser
`postgres`, UTF-8, C.UTF-8 like the machine's cluster); `postgres` serves it on 127.0.0.1 only, on
a free port of its own, with its unix socket in the folder and fsync off (a throw-away cluster
need not survive a power cut, and the tests run faster). `initdb` refuses to run as root: as root
both run as the `postgres` user, which then owns the folder.

The postmaster leads a session of its own and names the folder in its command line, so a killed
run's cluster is ended and its folder removed by `sweep` at the next start (`mbt-` prefix). It is
ready when its pid file says "ready" (read from the file: no connection is made to find out), and
stops by SIGINT ("fast" shutdown: open connections are ended, nothing is waited for).

Shared by pytest-xdist workers: the controller makes and claims the folder (`shared_folder`),
each worker calls `attach(folder)`, and the first one starts the cluster under a file lock; the
controller stops it at the end (`stop_cluster_in`).
"""

import contextlib
import fcntl
import os
import pwd
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mailbridge.testkit import processes
from mailbridge.testkit.ports import free_port, wait_listening
from mailbridge.testkit.stack import DEFAULT_PARENT
from mailbridge.testkit.sweep import STACK_PREFIX, claim, remove_stack, sweep_stale_stacks
from sqlalchemy.engine import URL

DEBIAN_ROOT = Path("/usr/lib/postgresql")
INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql (or scripts/install-mail-servers)"
SUPERUSER = "postgres"
RUN_AS = "postgres"  # the system user the cluster runs as when we are root
HOST = "127.0.0.1"
FOLDER_PREFIX = f"{STACK_PREFIX}pg-"
_READY = "ready"  # the postmaster pid file's status line once connections are accepted (PG >= 10)
_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",  # the suite's engines, and xdist workers sharing one cluster
    "log_min_messages": "warning",
}


class PrivatePostgresError(RuntimeError):
    """The private cluster could not be made or started (the message has its output's tail)."""


@dataclass(frozen=True)
class Binaries:
    """Where one PostgreSQL version's server programs are."""

    version: str
    folder: Path

    @property
    def initdb(self) -> Path:
        return self.folder / "initdb"

    @property
    def postgres(self) -> Path:
        return self.folder / "postgres"


def _version_key(folder: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in folder.name.split(".") if part.isdigit())


def find_binaries(root: Path = DEBIAN_ROOT) -> Binaries | None:
    """The newest PostgreSQL under Debian's `/usr/lib/postgresql/<version>/bin`, or None."""
    if not root.is_dir():
        return None
    for version in sorted(root.iterdir(), key=_version_key, reverse=True):
        candidate = Binaries(version.name, version / "bin")
        if candidate.initdb.exists() and candidate.postgres.exists():
            return candidate
    return None


def missing_postgres() -> str | None:
    """Why a private cluster cannot run here, or None when it can."""
    if find_binaries() is None:
        return f"PostgreSQL not installed (no {DEBIAN_ROOT}/<version>/bin/initdb): {INSTALL}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"no `{RUN_AS}` user to run PostgreSQL as (initdb refuses root): {INSTALL}"
    return None


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the cluster as: `postgres`'s when we are root; None: as ourselves."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(RUN_AS)
    return entry.pw_uid, entry.pw_gid


def _environment() -> dict[str, str]:
    """Ours without libpq's PG* variables (a PGDATA or PGPORT here must not redirect the server)."""
    keep = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return {**keep, "LC_ALL": "C.UTF-8"}


class PrivatePostgres:
    """One throw-away cluster in `<parent>/mbt-pg-XXXX`: `start()`/`stop()` or `with`.

    `folder`: a folder made (and claimed) by the caller, shared with other processes; `stop()`
    then leaves it to its maker (see `stop_cluster_in`).
    """

    def __init__(self, *, parent: Path = DEFAULT_PARENT, folder: Path | None = None,
                 binaries: Binaries | None = None) -> None:  # fmt: skip
        found = binaries or find_binaries()
        if found is None:
            raise PrivatePostgresError(f"PostgreSQL not installed: {INSTALL}")
        self.binaries = found
        self.owns_folder = folder is None
        if folder is None:
            sweep_stale_stacks(parent)
            folder = make_folder(parent)
        self.folder = folder
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def output(self) -> Path:
        return self.folder / "postgres.out"

    @property
    def version(self) -> str:
        return self.binaries.version

    @property
    def url(self) -> URL:
        """The superuser's async URL for the `postgres` database (no password: trust)."""
        return URL.create("postgresql+asyncpg", username=SUPERUSER, host=HOST, port=self.port,
                          database="postgres")  # fmt: skip

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def postmaster_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 30.0) -> "PrivatePostgres":
        """initdb, then the postmaster; return once it accepts connections."""
        try:
            self._initdb()
            self.port = free_port(HOST)
            self._serve(timeout)
        except PrivatePostgresError:
            self.stop()
            raise
        except (OSError, subprocess.CalledProcessError) as error:
            self.stop()
            raise PrivatePostgresError(
                processes.describe_failure("private PostgreSQL", self.output)
            ) from error
        return self

    def halt(self, timeout: float = 10.0) -> None:
        """Stop the server but keep the cluster and its port: an outage that `resume` ends (for
        fault tests; clients see their connections closed, then refused)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)
            processes.stop(self._process, timeout=1.0)
            self._process = None

    def resume(self, timeout: float = 30.0) -> None:
        """The server again, on the same port with the same data, after `halt`."""
        self._serve(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT), then whatever is left of its group; the folder is removed
        when this object made it."""
        self.halt(timeout)
        if self.owns_folder:
            remove_stack(self.folder)

    def _serve(self, timeout: float) -> None:
        self._process = self._spawn_postmaster()
        try:
            wait_listening(self.port, timeout, host=HOST, process=self._process)
            _wait_ready(self.data, self._process, timeout)
        except (RuntimeError, TimeoutError) as error:
            self.halt()
            failure = processes.describe_failure("private PostgreSQL", self.output)
            raise PrivatePostgresError(failure) from error

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def _initdb(self) -> None:
        command = [str(self.binaries.initdb), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                   "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions"]  # fmt: skip
        user = _run_as()
        with self.output.open("ab") as sink:
            subprocess.run(  # noqa: S603 - the package's initdb, fixed arguments
                command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, check=True,
                cwd=self.folder, env=_environment(),
                user=user[0] if user else None, group=user[1] if user else None,
                extra_groups=[] if user else None,
            )  # fmt: skip

    def _spawn_postmaster(self) -> "subprocess.Popen[bytes]":
        settings = {**_SETTINGS, "port": str(self.port), "unix_socket_directories": str(self.folder)}
        command = [str(self.binaries.postgres), "-D", str(self.data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        user = _run_as()
        with self.output.open("ab") as sink:
            return subprocess.Popen(  # noqa: S603 - the package's postgres, fixed arguments
                command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=self.folder, env=_environment(),
                user=user[0] if user else None, group=user[1] if user else None,
                extra_groups=[] if user else None,
            )  # fmt: skip


def make_folder(parent: Path = DEFAULT_PARENT) -> Path:
    """A claimed `mbt-pg-` folder in `parent`, owned by the cluster's user when we are root."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent))
    claim(folder)
    user = _run_as()
    if user is not None:
        os.chown(folder, *user)
    return folder


def _wait_ready(data: Path, process: "subprocess.Popen[bytes]", timeout: float) -> None:
    """Return once the pid file's last line says the postmaster accepts connections."""
    deadline = time.monotonic() + timeout
    pid_file = data / "postmaster.pid"
    while True:
        with contextlib.suppress(FileNotFoundError):
            lines = pid_file.read_text().splitlines()
            if len(lines) >= 8 and lines[7].strip() == _READY:
                return
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"PostgreSQL not ready after {timeout} s")
        time.sleep(0.01)


# --- one cluster shared by pytest-xdist workers -------------------------------------------------

_URL_FILE = "url"
_LOCK_FILE = "lock"


def shared_folder(parent: Path = DEFAULT_PARENT) -> Path:
    """A folder for a cluster that several processes share; its maker stops it at the end."""
    sweep_stale_stacks(parent)
    return make_folder(parent)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / _LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Attached:
    """A running cluster in a shared folder: its URL and version."""

    url: URL
    version: str


def attach(folder: Path, timeout: float = 30.0) -> Attached:
    """The cluster in `folder`, started now by whichever process comes first (under a lock).
    The postmaster outlives the process that started it (a session of its own)."""
    with _locked(folder):
        url_file = folder / _URL_FILE
        if not url_file.exists():
            cluster = PrivatePostgres(folder=folder).start(timeout)
            url_file.write_text(f"{cluster.version}\n{cluster.port}\n")
        version, port = url_file.read_text().split()
    url = URL.create("postgresql+asyncpg", username=SUPERUSER, host=HOST, port=int(port), database="postgres")
    return Attached(url, version)


def _postmaster_pid(folder: Path) -> int | None:
    try:
        return int((folder / "data" / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


def stop_cluster_in(folder: Path, timeout: float = 10.0) -> None:
    """Stop the cluster a worker started in a shared `folder` (fast shutdown, then SIGKILL to its
    group) and remove the folder."""
    pid = _postmaster_pid(folder)
    if pid is not None and _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        if _alive(pid):  # gone: its backends went with it, and its pid may be reused by now
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    remove_stack(folder)
