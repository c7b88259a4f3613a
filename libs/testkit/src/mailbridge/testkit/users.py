"""Mail users of the test stack, each in a passwd-file of its own that Dovecot reads.

Every user logs in with the full address and gets the same numeric mail uid/gid (not 0, and
it need not exist in /etc/passwd); home is `<mail root>/<address>`, mail in `~/Maildir`.
Passwords are stored as `{PLAIN.BASE64}` so any character, ':' included, survives the format.

One file per user (`args = <folder>/%Lu`), not one for all: Dovecot looks at a passwd-file's
mtime at most once a second, so a user appended to a shared file right after a login failed to
authenticate for up to a second. A new user's file is opened at its first lookup, so users can
be added while Dovecot runs; a changed password is seen within a second. The files are readable
by the `dovecot` group (the auth process runs as `dovecot`).
"""

import base64
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

_ADDRESS = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+$")


@dataclass(frozen=True)
class MailUser:
    """A login of the stack: the address is the user name for IMAP, POP3 and SMTP AUTH."""

    address: str
    password: str
    home: Path

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def random_password() -> str:
    return secrets.token_urlsafe(18)


def random_local_part(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(5)}"


class PasswdFiles:
    """`<folder>/<address>`: one line `user:{PLAIN.BASE64}…:uid:gid::home::` each."""

    def __init__(self, folder: Path, mail_root: Path, uid: int, gid: int) -> None:
        self.folder = folder
        self.mail_root = mail_root
        self.uid = uid
        self.gid = gid
        self._users: dict[str, MailUser] = {}
        folder.mkdir(mode=0o750, parents=True, exist_ok=True)
        shutil.chown(folder, "root", "dovecot")

    def __contains__(self, address: str) -> bool:
        return address.lower() in self._users

    def get(self, address: str) -> MailUser:
        return self._users[address.lower()]

    def add(self, address: str, password: str, home: Path | None = None) -> MailUser:
        """Add (or replace) a user, with an empty Maildir."""
        address = address.lower()  # Dovecot's default auth_username_format is %Lu
        if not _ADDRESS.match(address):
            raise ValueError(f"not a plain address a passwd-file can hold: {address!r}")
        user = MailUser(address, password, home or self.mail_root / address)
        make_maildir(user.maildir, self.uid, self.gid)
        secret = base64.b64encode(password.encode()).decode()
        draft = self.folder / f".{address}.new"
        draft.write_text(f"{address}:{{PLAIN.BASE64}}{secret}:{self.uid}:{self.gid}::{user.home}::\n")
        shutil.chown(draft, "root", "dovecot")
        draft.chmod(0o640)
        draft.replace(self.folder / address)
        self._users[address] = user
        return user


def make_maildir(folder: Path, uid: int, gid: int) -> None:
    """Create `folder` with new/, cur/ and tmp/ (and any missing parents) owned by uid:gid."""
    missing = [folder / sub for sub in ("new", "cur", "tmp") if not (folder / sub).is_dir()]
    if not missing:
        return
    created = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    for sub in missing:
        sub.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (*created, *missing):
        os.chown(path, uid, gid)
