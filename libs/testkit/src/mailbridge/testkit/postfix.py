"""A private Postfix 3.7 (Debian 12) on loopback, delivering everything to Dovecot over LMTP.

The master runs in the foreground (`master -c DIR -s`) as our child, in a session of its own,
with its config, queue and data under one folder (see `postfix_config`). Start it after Dovecot
and stop it before: a delivery that reaches Dovecot mid-shutdown stalls the stop for seconds.
"""

import grp
import os
import shutil
import subprocess
import time
from pathlib import Path

from mailbridge.testkit import processes
from mailbridge.testkit.ports import free_ports, listening_sockets, wait_all_listening
from mailbridge.testkit.postfix_config import (
    QUEUE_FOLDERS,
    Delivery,
    PostfixPaths,
    PostfixPorts,
    main_cf,
    master_cf,
)
from mailbridge.testkit.tls import TlsFiles

MASTER = Path("/usr/lib/postfix/sbin/master")
_BACKDATE_S = 10


class PostfixError(RuntimeError):
    """Postfix did not start."""


class Postfix:
    """One Postfix instance: SMTP, submission and smtps on free loopback ports."""

    def __init__(self, folder: Path, tls: TlsFiles, delivery: Delivery, host: str = "127.0.0.1") -> None:
        self.paths = PostfixPaths.under(folder)
        self.ports = PostfixPorts(*free_ports(3, host))
        self.host = host
        self.tls = tls
        self.delivery = delivery
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _prepare(self) -> None:
        postdrop = grp.getgrnam("postdrop").gr_gid
        config = self.paths.config
        for folder in (self.paths.folder, config, self.paths.queue, self.paths.queue / "pid"):
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        for name in (*QUEUE_FOLDERS, "../data"):
            folder = self.paths.queue / name
            folder.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(folder, "postfix")
        for name, mode in (("public", 0o710), ("maildrop", 0o730)):
            os.chown(self.paths.queue / name, -1, postdrop)
            (self.paths.queue / name).chmod(mode)
        (config / "main.cf").write_text(main_cf(self.paths, self.tls, self.delivery, self.host))
        (config / "master.cf").write_text(master_cf(self.ports, self.host))
        # Postfix re-reads a config file changed within the current second: back-date them.
        past = time.time() - _BACKDATE_S
        for name in ("main.cf", "master.cf"):
            os.utime(config / name, (past, past))

    def start(self, timeout: float = 10.0) -> None:
        """Write the config and start the master; return once its ports LISTEN and its log
        has begun (the log process starts on demand: a test may read the log right away)."""
        self._prepare()
        argv = [str(MASTER), "-c", str(self.paths.config), "-s"]
        self._process = processes.spawn(argv, self.paths.output)
        try:
            wait_all_listening(vars(self.ports).values(), timeout, host=self.host, process=self._process)
            self._wait_logging(time.monotonic() + timeout)
        except (TimeoutError, RuntimeError) as error:
            self.stop()
            raise PostfixError(self._failure()) from error

    def _failure(self) -> str:
        """What went wrong, as far as can be told: Postfix's early fatal errors go to syslog."""
        failure = processes.describe_failure("postfix", self.paths.output, self.paths.log)
        listening = {port for _, port in listening_sockets()}
        taken = [port for port in vars(self.ports).values() if port in listening]
        if taken:
            return f"{failure}: port(s) {taken} already taken by another process"
        return f"{failure} (its early fatal errors go to syslog only)"

    def _wait_logging(self, deadline: float) -> None:
        while not (self.paths.log.exists() and b"daemon started" in self.paths.log.read_bytes()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Postfix wrote no 'daemon started' to {self.paths.log}")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (it ends its children), then kill what is left of its group."""
        if self._process is not None:
            processes.stop(self._process, timeout)
            self._process = None
