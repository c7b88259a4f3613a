"""`MailStack`: Dovecot and Postfix on loopback, with users, seeding and logs, for one test run.

Layout of the stack's folder (`/var/tmp/mbt-XXXXXXXX`, short for Dovecot's socket paths, mode
0755 so the mail uid, `dovecot` and `postfix` can traverse it): `dovecot/` (config, passwd-files,
sockets, dovecot.log), `mail/<address>/Maildir`, `postfix/` (etc, queue, data, maillog). The
folder is removed at stop unless `keep=True`; folders left by a killed run are swept at start.
"""

import imaplib
import ssl
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mailbridge.testkit.dovecot import Dovecot
from mailbridge.testkit.dovecot_config import DovecotOptions
from mailbridge.testkit.maildir import wait_for_messages
from mailbridge.testkit.postfix import Postfix
from mailbridge.testkit.postfix_config import Delivery
from mailbridge.testkit.sweep import STACK_PREFIX, claim, remove_stack, sweep_stale_stacks
from mailbridge.testkit.tls import DEFAULT_CACHE, ensure_tls_files
from mailbridge.testkit.users import MailUser, random_local_part

DEFAULT_DOMAIN = "mailbridge.test"
DEFAULT_PARENT = Path("/var/tmp")  # noqa: S108 - short, traversable, on disk (fsync means something)
MAX_FOLDER_CHARS = 68


def _check_parent(parent: Path) -> None:
    """Sockets must fit in 107 bytes, and the mail uid, dovecot and postfix must get through."""
    if len(str(parent)) + len("/mbt-XXXXXXXX") > MAX_FOLDER_CHARS:
        raise ValueError(f"{parent}: too long for a stack folder (≤ {MAX_FOLDER_CHARS} characters in all)")
    for folder in (parent, *parent.parents):
        if not folder.stat().st_mode & 0o001:
            raise PermissionError(f"{folder} is not traversable by other users (mail uid, dovecot, postfix)")


@dataclass(frozen=True)
class MailPorts:
    """The stack's TCP ports, all on its `host`."""

    imap: int
    """STARTTLS offered."""
    imaps: int
    pop3: int
    """STLS offered."""
    pop3s: int
    lmtp: int
    smtp: int
    """Plain SMTP, no AUTH, relays for 127.0.0.0/8 and ::1; STARTTLS offered as on port 25."""
    submission: int
    """STARTTLS, then AUTH: both required."""
    smtps: int
    """Implicit TLS; AUTH required."""


class MailStack:
    """Dovecot (IMAP, POP3, LMTP) and Postfix (SMTP, submission, smtps) on `host`."""

    def __init__(self, *, parent: Path = DEFAULT_PARENT, domain: str = DEFAULT_DOMAIN,
                 host: str = "127.0.0.1", fsync: bool = False,
                 tls_cache: Path = DEFAULT_CACHE, keep: bool = False) -> None:  # fmt: skip
        _check_parent(parent)
        sweep_stale_stacks(parent)
        self.domain, self.host, self.keep = domain, host, keep
        self.tls = ensure_tls_files(tls_cache)
        self.folder = Path(tempfile.mkdtemp(prefix=STACK_PREFIX, dir=parent))
        self.folder.chmod(0o755)
        claim(self.folder)
        (self.folder / "mail").mkdir(mode=0o755)
        options = DovecotOptions(host=host, fsync=fsync)
        instance = f"mailbridge-{self.folder.name}"
        self.dovecot = Dovecot(self.folder / "dovecot", self.folder / "mail", self.tls,
                               options=options, sink_address=f"sink@{domain}", instance=instance)  # fmt: skip
        delivery = Delivery(self.dovecot.paths.lmtp_socket, self.dovecot.paths.auth_socket)
        self.postfix = Postfix(self.folder / "postfix", self.tls, delivery, host)

    def start(self, timeout: float = 10.0) -> "MailStack":
        """Dovecot, then Postfix; if either fails, both are stopped (and the folder removed)."""
        try:
            self.dovecot.start(timeout)
            self.postfix.start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Postfix first (a delivery reaching a stopping Dovecot stalls it), then Dovecot."""
        try:
            self.postfix.stop()
        finally:
            self.dovecot.stop()
            if not self.keep:
                remove_stack(self.folder)

    def __enter__(self) -> "MailStack":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        self.stop()

    @property
    def ports(self) -> MailPorts:
        imap, postfix = self.dovecot.ports, self.postfix.ports
        return MailPorts(imap.imap, imap.imaps, imap.pop3, imap.pop3s, imap.lmtp,
                         postfix.smtp, postfix.submission, postfix.smtps)  # fmt: skip

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_cert

    def client_context(self) -> ssl.SSLContext:
        """Trusts only the stack's CA; verification and hostname checks stay on."""
        return self.tls.client_context()

    def imap(self, user: MailUser) -> imaplib.IMAP4_SSL:
        """A logged-in IMAPS session (stdlib imaplib); use it in a `with` block."""
        session = imaplib.IMAP4_SSL(self.host, self.ports.imaps, ssl_context=self.client_context())
        session.login(user.address, user.password)
        return session

    @property
    def dovecot_log(self) -> Path:
        """Logins (with `TLS` when the login was under TLS), auth failures, LMTP deliveries."""
        return self.dovecot.paths.log

    @property
    def postfix_log(self) -> Path:
        """SMTP sessions, TLS handshakes, `sasl_method=` of each AUTH, deliveries."""
        return self.postfix.paths.log

    @property
    def sink(self) -> MailUser:
        """The mailbox that catches mail to any address that is not a user."""
        return self.dovecot.sink

    def add_user(self, address: str | None = None, password: str | None = None) -> MailUser:
        """A new user (default: a random address on the stack's domain, a random password)."""
        return self.dovecot.add_user(address or f"{random_local_part()}@{self.domain}", password)

    def user(self, address: str) -> MailUser:
        return self.dovecot.user(address)

    def seed(
        self, address: str, messages: Iterable[bytes], folder: str = "INBOX", flags: str = ""
    ) -> list[Path]:
        return self.dovecot.seed(address, messages, folder, flags)

    def wait_for_messages(
        self, address: str, count: int, folder: str = "INBOX", timeout: float = 10.0
    ) -> None:
        """Return once the user's folder holds `count` messages (read on disk, no IMAP)."""
        wait_for_messages(self.dovecot.folder_path(address, folder), count, timeout)

    def uidvalidity(self, address: str, folder: str = "INBOX") -> int:
        return self.dovecot.uidvalidity(address, folder)

    def reset_uidvalidity(self, address: str, folder: str = "INBOX") -> int:
        return self.dovecot.reset_uidvalidity(address, folder)
