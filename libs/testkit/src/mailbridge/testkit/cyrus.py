"""A private Cyrus IMAP 3.6 (Debian 12) on loopback: IMAP and POP3 for the interop matrix (#11).

`master -D -C imapd.conf -M cyrus.conf -p master.pid` runs as our child in a session of its own
(root binds the ports, then it runs as `cyrus`); it is ready when its four ports LISTEN (read
from /proc) and stops by SIGTERM, on which it ends its services itself. Users are sasldb entries
(`saslpasswd2` as `cyrus`, realm = the address's domain) whose mailbox `user.<local>@<domain>`
a private admin CREATEs over IMAPS. Configuration: `cyrus_config`.

Pitfalls hit here:
- `imapd` and `pop3d` stay alive after a connection and serve the next ones (up to 150), and
  each reads imapd.conf once at its start: a changed imapd.conf needs a new master.
- `munge8bit` (on by default; Debian's imapd.conf keeps it) is documented for lmtpd, but IMAP
  APPEND goes through the same check: 8-bit bytes in the *headers* of an appended message are
  stored as "X" ("Grüße" → "GrXXXXe"); bodies stay byte-exact. No error, no warning.
- A login in `defaultdomain` is stripped of its domain before the sasldb lookup and then not
  found under its realm: no `defaultdomain`, so every user keeps its domain.
- A login without a domain (the admin) is looked up under the realm `servername`, which defaults
  to the host name; `saslpasswd2` without `-u` uses the host name as well. Both are pinned.
- The master's pid file defaults to /var/run/master.pid (the system's): `-p` is mandatory.
- Cyrus logs only to syslog, and there is no /dev/log here: its messages vanish. `-D` keeps the
  master's stderr, so start-up errors reach `master.out`.
- The cached TLS key is root's (0600): the instance uses copies owned by `cyrus`.
- The plain ports announce LOGINDISABLED until STARTTLS/STLS (`allowplaintext: 0`).
- A failed login costs 3 s by default (`failedloginpause`).
"""

import contextlib
import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from mailbridge.testkit import cyrus_config as config
from mailbridge.testkit import processes
from mailbridge.testkit.cyrus_config import CyrusOptions, CyrusPaths
from mailbridge.testkit.interop import InteropLogin, InteropPorts, client_context, full_folder_name
from mailbridge.testkit.ports import free_ports, wait_all_listening
from mailbridge.testkit.stack import DEFAULT_DOMAIN, DEFAULT_PARENT
from mailbridge.testkit.sweep import STACK_PREFIX, claim, remove_stack, sweep_stale_stacks
from mailbridge.testkit.tls import TlsFiles, ensure_tls_files
from mailbridge.testkit.users import random_local_part, random_password

SASLPASSWD2 = Path("/usr/sbin/saslpasswd2")
INSTALL = "scripts/install-mail-servers (as root)"
RUN_AS = ("cyrus", "mail")
ADMIN = "mbadmin"


class CyrusError(RuntimeError):
    """Cyrus did not start, or a user could not be made."""


def missing_cyrus() -> str | None:
    """Why a private Cyrus cannot run here, or None when it can."""
    binaries = (config.MASTER, config.IMAPD, config.POP3D, SASLPASSWD2)
    absent = [str(path) for path in binaries if not path.exists()]
    if absent:
        return f"Cyrus not installed ({', '.join(absent)} missing): run {INSTALL}"
    try:
        pwd.getpwnam(RUN_AS[0])
    except KeyError:
        return f"no `{RUN_AS[0]}` user (cyrus-common not installed): run {INSTALL}"
    if os.geteuid() != 0:
        return "Cyrus needs root (its master binds, then runs as `cyrus`, which must own the files)"
    return None


class Cyrus:
    """One Cyrus instance in `<parent>/mbt-cyrus-XXXX`; an `InteropServer` once started."""

    name = "cyrus"
    separator = config.SEPARATOR
    personal_prefix = config.PERSONAL_PREFIX

    def __init__(self, *, parent: Path = DEFAULT_PARENT, domain: str = DEFAULT_DOMAIN,
                 tls: TlsFiles | None = None, options: CyrusOptions | None = None,
                 keep: bool = False) -> None:  # fmt: skip
        self.options = options or CyrusOptions()
        self.domain, self.keep = domain, keep
        self.version = config.VERSION_FILE.read_text().strip() if config.VERSION_FILE.exists() else ""
        self.tls = tls or ensure_tls_files()
        self.host = self.options.host
        self.ca_file = self.tls.ca_cert
        sweep_stale_stacks(parent)
        folder = Path(tempfile.mkdtemp(prefix=f"{STACK_PREFIX}cyrus-", dir=parent))
        folder.chmod(0o755)
        claim(folder)
        self.paths = CyrusPaths.under(folder)
        self.ports = InteropPorts(*free_ports(4, self.options.host))
        self._admin = InteropLogin(ADMIN, random_password())
        self._waiting: list[str] = []  # users added before start: their mailboxes come at start
        self._process: subprocess.Popen[bytes] | None = None
        try:
            for owned in (*self.paths.owned_dirs, self.paths.config_dir / "socket"):
                owned.mkdir(mode=0o750)
                shutil.chown(owned, *RUN_AS)
            self._set_password(ADMIN, config.SERVERNAME, self._admin.password)
        except BaseException:
            remove_stack(folder)
            raise

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def master_pid(self) -> int | None:
        """The master's pid (also its process group's and session's) while it runs."""
        return self._process.pid if self._process is not None else None

    def start(self, timeout: float = 10.0) -> "Cyrus":
        """Write the configuration, start the master, wait for its ports, make waiting mailboxes."""
        paths = self.paths
        for source, copy in (
            (self.tls.server_cert, paths.server_cert),
            (self.tls.server_key, paths.server_key),
        ):
            shutil.copyfile(source, copy)
            shutil.chown(copy, *RUN_AS)
            copy.chmod(0o600)
        paths.imapd_conf.write_text(config.render_imapd_conf(paths, self.options, ADMIN))
        paths.cyrus_conf.write_text(config.render_cyrus_conf(paths, self.ports, self.options))
        command = [str(config.MASTER), "-D", "-C", str(paths.imapd_conf), "-M", str(paths.cyrus_conf),
                   "-p", str(paths.pid_file)]  # fmt: skip
        self._process = processes.spawn(command, paths.output)
        try:
            wait_all_listening(vars(self.ports).values(), timeout, host=self.host, process=self._process)
            for address in self._waiting:
                self._create_inbox(address)
            self._waiting.clear()
        except (TimeoutError, RuntimeError, OSError, imaplib.IMAP4.error) as error:
            self.stop()
            raise CyrusError(processes.describe_failure("cyrus", paths.output)) from error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (it ends its services), then whatever is left of its group;
        the folder is removed unless `keep`."""
        if self._process is not None:
            processes.stop(self._process, timeout)
            self._process = None
        if not self.keep:
            remove_stack(self.paths.folder)

    def __enter__(self) -> "Cyrus":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    def add_user(self, address: str | None = None, password: str | None = None) -> InteropLogin:
        """A sasldb user with an empty INBOX (made now if running, else at start)."""
        login = InteropLogin((address or f"{random_local_part()}@{self.domain}").lower(),
                             password if password is not None else random_password())  # fmt: skip
        local, _, domain = login.address.rpartition("@")
        if not local or not domain:
            raise ValueError(f"not an address: {login.address!r}")
        self._set_password(local, domain, login.password)
        if self.running:
            self._create_inbox(login.address)
        else:
            self._waiting.append(login.address)
        return login

    def folder(self, name: str) -> str:
        return full_folder_name(self.personal_prefix, self.separator, name)

    def mailbox_name(self, address: str) -> str:
        """The user's INBOX as the admin names it: `user.<local>@<domain>` ("." in the local
        part becomes "^", as the separator is ".")."""
        local, _, domain = address.rpartition("@")
        return f"user.{local.replace('.', '^')}@{domain}"

    def _set_password(self, user: str, realm: str, password: str) -> None:
        command = [str(SASLPASSWD2), "-f", str(self.paths.sasldb), "-p", "-c", "-u", realm, user]
        done = subprocess.run(  # noqa: S603 - fixed binary, our own arguments
            command, input=password.encode(), capture_output=True, check=False, user=RUN_AS[0],
            group=RUN_AS[1], extra_groups=[],
        )  # fmt: skip
        if done.returncode != 0:
            raise CyrusError(f"saslpasswd2 {user}@{realm}: {done.stderr.decode(errors='replace').strip()}")

    def _create_inbox(self, address: str) -> None:
        admin = imaplib.IMAP4_SSL(self.host, self.ports.imaps, ssl_context=client_context(self), timeout=30)
        try:
            admin.login(self._admin.address, self._admin.password)
            status, data = admin.create(f'"{self.mailbox_name(address)}"')
            if status != "OK":
                raise CyrusError(f"CREATE {self.mailbox_name(address)}: {status} {data!r}")
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                admin.logout()
