"""A private Dovecot 2.3 (Debian 12) on loopback: IMAP, POP3 and LMTP for tests and benchmarks.

`dovecot -F -c FILE` runs as our child in a session of its own, its output in a file; it is
ready when every TCP port LISTENs (read from /proc, no probe) and its unix sockets exist, and it
stops by SIGTERM to the master's pid. Needs root (the master binds, then switches to the mail
uid per user) and a short folder: see `dovecot_config`.
"""

import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from mailbridge.testkit import processes
from mailbridge.testkit.dovecot_config import SEPARATOR, DovecotOptions, DovecotPaths, DovecotPorts, render
from mailbridge.testkit.maildir import folder_path, write_messages
from mailbridge.testkit.ports import free_ports, wait_all_listening
from mailbridge.testkit.tls import TlsFiles
from mailbridge.testkit.users import MailUser, PasswdFiles, random_password


class DovecotError(RuntimeError):
    """Dovecot did not start, or a doveadm command failed."""


class Dovecot:
    """One Dovecot instance with its config, users and Maildirs under `folder` and `mail_root`."""

    def __init__(self, folder: Path, mail_root: Path, tls: TlsFiles, *,
                 options: DovecotOptions | None = None, sink_address: str = "sink@mailbridge.test",
                 instance: str = "mailbridge") -> None:  # fmt: skip
        self.options = options or DovecotOptions()
        self.paths = DovecotPaths.under(folder)
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.ports = DovecotPorts(*free_ports(5, self.options.host))
        self.tls = tls
        self.instance = instance
        self._users = PasswdFiles(self.paths.users, mail_root, self.options.mail_uid, self.options.mail_gid)
        self.sink = self._users.add(sink_address, random_password())
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return self.options.host

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start the master and return once every listener is there."""
        for folder in (self.paths.run, self.paths.state):
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.paths.config.write_text(
            render(self.paths, self.ports, self.tls, self.options, self.instance, self.sink.home)
        )
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self._process = processes.spawn([dovecot, "-F", "-c", str(self.paths.config)], self.paths.output)
        try:
            wait_all_listening(vars(self.ports).values(), timeout, host=self.host, process=self._process)
            self._wait_sockets(time.monotonic() + timeout)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise DovecotError(
                processes.describe_failure("dovecot", self.paths.output, self.paths.log)
            ) from error

    def _wait_sockets(self, deadline: float) -> None:
        while not (self.paths.auth_socket.is_socket() and self.paths.lmtp_socket.is_socket()):
            if time.monotonic() > deadline:
                raise TimeoutError("Dovecot's unix sockets did not appear")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master; once only its log process is left (it would then sleep a
        second before exiting), the master and what is left of its group are killed. Stopping
        during start-up, when the master would wait 5 s, is cut short the same way."""
        if self._process is not None:
            processes.stop(self._process, timeout, idle_children=frozenset({"log"}))
            self._process = None

    def add_user(self, address: str, password: str | None = None) -> MailUser:
        """A user with an empty Maildir; works before start and while running."""
        return self._users.add(address, password if password is not None else random_password())

    def user(self, address: str) -> MailUser:
        return self._users.get(address)

    def folder_path(self, address: str, folder: str = "INBOX") -> Path:
        return folder_path(self.user(address).maildir, folder, SEPARATOR)

    def seed(
        self, address: str, messages: Iterable[bytes], folder: str = "INBOX", flags: str = ""
    ) -> list[Path]:
        """Write messages into the user's folder on disk (`new/`, or `cur/` with IMAP flag
        letters like "S" or "FS"); Dovecot assigns their UIDs at the next SELECT."""
        opts = self.options
        return write_messages(
            self.folder_path(address, folder), messages, opts.mail_uid, opts.mail_gid, flags
        )

    def uidvalidity(self, address: str, folder: str = "INBOX") -> int:
        status = self.doveadm("-f", "flow", "mailbox", "status", "-u", address, "uidvalidity", folder)
        found = re.search(r"uidvalidity=(\d+)", status)
        if found is None:
            raise DovecotError(f"no UIDVALIDITY for {address} {folder}: {status!r}")
        return int(found.group(1))

    def reset_uidvalidity(self, address: str, folder: str = "INBOX") -> int:
        """Give the folder a new UIDVALIDITY (the old one + 1) and return it.

        `doveadm mailbox update --uid-validity` rewrites the folder's index; UIDs stay. A
        session that has the folder selected is disconnected at its next command
        (`* BYE IMAP session state is inconsistent, please relogin.`); later sessions see the
        new value in SELECT and STATUS — RFC 3501 §2.3.1.1: the client must forget every UID
        it knew there. Works on a folder that was only seeded, never opened."""
        new = self.uidvalidity(address, folder) + 1
        self.doveadm("mailbox", "update", "-u", address, "--uid-validity", str(new), folder)
        return new

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c <our config> ARGS…`, e.g. ("index", "-u", address, "INBOX")."""
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        command = [doveadm, "-c", str(self.paths.config), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise DovecotError(f"{' '.join(command)}: {done.stderr.strip()}")
        return done.stdout
