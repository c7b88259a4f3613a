"""A private Courier (IMAP 5.0.13, POP3) on loopback, from Debian 12's packages, for the matrix.

`courier-imap` and `courier-pop` conflict with Dovecot's packages, so they are unpacked under
/opt/mailbridge-interop (see scripts/install-mail-servers); `couriertcpd`, `couriertls`,
`authdaemond` and `makeuserdb` come from the installed courier-base and courier-authlib.
`imaplogin` and `courierpop3login` ask authdaemond over a socket whose path is compiled in
(/run/courier/authdaemon/socket), and authdaemond reads /etc/courier/authdaemonrc: so the
instance runs in a mount namespace of its own (`unshare --mount --propagation private`, root
only) in which its folder's `etc/` (a copy of /etc/courier, authuserdb only, its own userdb),
`run/`, `passwd` and `group` are bind-mounted over the real ones. Nothing under /etc or /run
changes. A killed run's leftovers are ended by `sweep` (every listener's command line names the
folder through `-stderr=`).

Process tree: the leader (`sh start.sh`, a session of its own) starts authdaemond and four
`couriertcpd` (IMAP+STARTTLS, IMAPS, POP3+STLS, POP3S); it is ready when all four ports LISTEN
(sockets held by the instance's processes) and authdaemond's socket exists. Users live in the
userdb (address as login, `{SHA512}` password, uid/gid 5000, home under `mail/`), rebuilt with
`makeuserdb -f` per new user; authdaemond sees the new .dat at the next lookup.

Pitfalls (each one was hit):
- couriertcpd puts itself into a process group of its own: killing the leader's group leaves
  the listeners running. Stop signals every process of the leader's session or of the mount
  namespace, and waits until none is left.
- A wrong password costs 5 s: `imaplogin` sleeps 5 s (hard-coded) before `NO Login failed.`,
  and POP3's `-ERR Login failed.` comes as late. POP3 CAPA says `LOGIN-DELAY 10`, but a second
  login right after the first is accepted.
- imapd watches Maildirs through gamin (libfam), which names its socket after the user: for a
  uid without a name in /etc/passwd every IMAP command waited 1.2 s for gamin to give up
  ("Failed to connect to socket /tmp/fam--", "Failed to create cache file: maildirwatch").
  The namespace gets its own /etc/passwd and /etc/group naming uid/gid 5000 `vmail` (as a
  business's virtual-mail user would be), and `GAM_CLIENT_ID` gives each instance its own
  `gam_server`. That server leaves the session (setsid) but not the namespace, hence stop's
  second criterion; once killed it is init's to reap. /proc/1/ns/mnt is unreadable here even
  for root, so a process whose namespace cannot be read is simply not ours.
- Debian's defaults allow 4 POP3 connections per IP (MAXPERIP): raised to 200 for both.
- For a message with raw 8-bit (UTF-8) headers, POP3 RETR without `UTF8` returns a
  "Cannot display Unicode content" stand-in from "Mail Delivery Subsystem" (the original
  attached as message/global) while LIST still gives the original's size; `UTF8` (CAPA says
  `UTF8 USER`) is accepted before and after login. IMAP FETCH returns the raw bytes either way.
- couriertls wants certificate and key in one PEM, readable by the `courier` user (the TLS
  process of the implicit-TLS ports runs as `courier`).
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from mailbridge.testkit import courier_config as config
from mailbridge.testkit import processes
from mailbridge.testkit.interop import InteropLogin, InteropPorts, full_folder_name
from mailbridge.testkit.ports import free_ports, listening_sockets, socket_inodes
from mailbridge.testkit.sweep import STACK_PREFIX, claim, remove_stack, sweep_stale_stacks
from mailbridge.testkit.tls import DEFAULT_CACHE, ensure_tls_files
from mailbridge.testkit.users import MailUser, make_maildir, random_local_part, random_password

INSTALL = "scripts/install-mail-servers"
DEFAULT_PARENT = Path("/var/tmp")  # noqa: S108 - traversable by the mail uid and `courier`
MAIL_UID = MAIL_GID = 5000
REQUIRED = (config.IMAPLOGIN, config.IMAPD, config.POP3LOGIN, config.POP3D, config.COURIERTCPD,
            config.COURIERTLS, config.AUTHDAEMOND, config.MAKEUSERDB)  # fmt: skip


class CourierError(RuntimeError):
    """Courier did not start, or a user could not be added."""


def missing_courier() -> str | None:
    """Why a private Courier cannot run here, or None when it can."""
    absent = [str(path) for path in REQUIRED if not path.exists()]
    if shutil.which("unshare") is None:
        absent.append("unshare")
    if absent:
        return f"Courier not installed ({', '.join(absent)} missing): {INSTALL}"
    if os.geteuid() != 0:
        return "Courier needs root (a private mount namespace over /etc/courier, and setuid per user)"
    return None


class Courier:
    """Courier IMAP and POP3 on `host`, with its own folder under `parent` (removed at stop)."""

    name = "courier"
    separator = "."
    personal_prefix = "INBOX."

    def __init__(self, *, parent: Path = DEFAULT_PARENT, domain: str = "mailbridge.test",
                 host: str = "127.0.0.1", tls_cache: Path = DEFAULT_CACHE,
                 keep: bool = False) -> None:  # fmt: skip
        sweep_stale_stacks(parent)
        self.host, self.domain, self.keep = host, domain, keep
        self.version = (config.IMAP_PACKAGE / ".unpacked").read_text().strip()
        self.tls = ensure_tls_files(tls_cache)
        self.ca_file = self.tls.ca_cert
        self.ports = InteropPorts(*free_ports(4, host))
        self.paths = config.CourierPaths.under(Path(tempfile.mkdtemp(prefix=STACK_PREFIX, dir=parent)))
        self.paths.folder.chmod(0o755)
        claim(self.paths.folder)
        self._users: dict[str, MailUser] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._namespace: str | None = None

    def __enter__(self) -> "Courier":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def folder(self, name: str) -> str:
        return full_folder_name(self.personal_prefix, self.separator, name)

    def start(self, timeout: float = 10.0) -> "Courier":
        """Write the private /etc/courier and scripts, start the leader, wait for the listeners."""
        try:
            self._write_files()
            command = ["unshare", "--mount", "--propagation", "private", "/bin/sh", str(self.paths.start)]
            self._process = processes.spawn(command, self.paths.output)
            self._wait_ready(time.monotonic() + timeout)
        except BaseException as error:
            failure = processes.describe_failure("courier", self.paths.output, self.paths.log)
            self.stop()
            if isinstance(error, (TimeoutError, CourierError)):
                raise CourierError(failure) from error
            raise
        return self

    def _write_files(self) -> None:
        paths = self.paths
        subprocess.run(["cp", "-a", f"{config.GLOBAL_ETC}/.", str(paths.etc)], check=True)  # noqa: S603,S607
        rc = paths.etc / "authdaemonrc"
        rc.write_text(config.authdaemonrc(rc.read_text()))
        paths.pem.write_bytes(self.tls.server_cert.read_bytes() + self.tls.server_key.read_bytes())
        shutil.chown(paths.pem, "root", "courier")
        paths.pem.chmod(0o640)
        (paths.run / "authdaemon").mkdir(mode=0o750, parents=True)
        shutil.chown(paths.run, "root", "courier")
        paths.run.chmod(0o775)
        shutil.chown(paths.run / "authdaemon", "courier", "courier")
        paths.mail.mkdir(mode=0o755, exist_ok=True)
        passwd, group = config.accounts(
            Path("/etc/passwd").read_text(), Path("/etc/group").read_text(), MAIL_UID, MAIL_GID
        )
        paths.passwd.write_text(passwd)
        paths.group.write_text(group)
        paths.overrides.write_text(config.render_overrides(paths, self.host))
        for script, text in config.render_scripts(paths, self.ports, self.host).items():
            script.write_text(text)
        self._write_userdb()

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        while True:
            members = self.pids()
            owned = set().union(*(socket_inodes(pid) for pid in members))
            sockets = listening_sockets()
            waiting = [port for port in vars(self.ports).values()
                       if sockets.get((self.host, port)) not in owned]  # fmt: skip
            if not waiting and self.paths.auth_socket.is_socket():
                self._namespace = _mount_namespace(self._process.pid)
                return
            if self._process.poll() is not None:
                raise CourierError(f"the leader exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"ports {waiting} or authdaemond's socket not ready")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every process of the instance but the leader, whose `wait` then returns (so
        it reaps them, instead of leaving zombies to init); then the leader. SIGKILL for what
        is left after `timeout`. Returns once none is left; the folder is removed unless `keep`."""
        if self._process is not None:
            deadline = time.monotonic() + timeout
            self._end_members(deadline, spare=self._process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(0.5)
            processes.stop(self._process, timeout)
            self._end_members(deadline, spare=None)
            self._process = None
        if not self.keep:
            remove_stack(self.paths.folder)

    def _end_members(self, deadline: float, spare: int | None) -> None:
        signalled: set[int] = set()
        while members := [pid for pid in self.pids() if pid != spare]:
            late = time.monotonic() > deadline
            for pid in members:
                if late or pid not in signalled:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL if late else signal.SIGTERM)
                    signalled.add(pid)
            time.sleep(0.002)

    def pids(self) -> list[int]:
        """The instance's living processes: the leader's session and its mount namespace."""
        if self._process is None:
            return []
        return _living_members(self._process.pid, self._namespace)

    def add_user(self, address: str | None = None, password: str | None = None) -> InteropLogin:
        """A user with an empty Maildir (INBOX); before start or while running."""
        address = (address or f"{random_local_part()}@{self.domain}").lower()
        user = MailUser(address, password or random_password(), self.paths.mail / address)
        make_maildir(user.maildir, MAIL_UID, MAIL_GID)
        self._users[address] = user
        self._write_userdb()
        return InteropLogin(user.address, user.password)

    def user(self, address: str) -> MailUser:
        return self._users[address.lower()]

    def _write_userdb(self) -> None:
        if not self.paths.etc.is_dir():
            return  # written at start
        text = "".join(config.userdb_line(user.address, user.password, user.home, MAIL_UID, MAIL_GID)
                       for user in self._users.values())  # fmt: skip
        self.paths.userdb.write_text(text)
        self.paths.userdb.chmod(0o600)
        done = subprocess.run(  # noqa: S603
            [str(config.MAKEUSERDB), "-f", str(self.paths.userdb)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise CourierError(f"makeuserdb: {done.stderr.strip()}")


def _mount_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:  # gone, or not ours to read (pid 1 here, even for root)
        return None


def _living_members(session: int, namespace: str | None) -> list[int]:
    """Processes (not zombies) whose session is `session` or whose mount namespace is
    `namespace`, unless that is ours (the leader had not unshared yet)."""
    if namespace == _mount_namespace(os.getpid()):
        namespace = None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] == "Z":
            continue
        if int(fields[3]) == session or (
            namespace is not None and _mount_namespace(int(entry.name)) == namespace
        ):
            found.append(int(entry.name))
    return found
