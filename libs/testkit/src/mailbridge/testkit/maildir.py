"""Maildir on disk: seeding messages straight into a folder, without IMAP.

Seeding writes each message as one file, straight into `new/` (or into `cur/` with flags,
`name:2,FS`), owned by the mail uid: 10,000 messages take 0.3–2.6 s here, depending on the
disk, where IMAP APPEND takes half a minute. Dovecot assigns UIDs at the next SELECT (or `doveadm index`).
"""

import itertools
import os
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from mailbridge.testkit.users import make_maildir

_counter = itertools.count()
_HOSTNAME = socket.gethostname().replace("/", "_").replace(":", "_")


def folder_path(maildir: Path, folder: str = "INBOX", separator: str = "/") -> Path:
    """The Maildir++ directory of an IMAP folder: INBOX is the root, `A/B` is `.A.B`."""
    if folder.upper() == "INBOX":
        return maildir
    return maildir / ("." + folder.replace(separator, "."))


def make_message(
    index: int,
    *,
    to: str,
    sender: str = "seed@mailbridge.test",
    subject: str | None = None,
    body: str | None = None,
    date: float | None = None,
) -> bytes:
    """A small plain-text RFC 5322 message with a unique Message-ID."""
    moment = datetime.fromtimestamp(date if date is not None else time.time(), tz=UTC)
    stamp = format_datetime(moment, usegmt=True)
    subject = subject if subject is not None else f"Seeded message {index}"
    body = body if body is not None else f"This is seeded message number {index}.\n"
    return (
        f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {stamp}\n"
        f"Message-ID: <seed-{index}-{time.time_ns()}@mailbridge.test>\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()


def write_messages(
    folder: Path, messages: Iterable[bytes], uid: int, gid: int, flags: str = ""
) -> list[Path]:
    """Write each message as a file into `folder` (a Maildir folder), owned by uid:gid."""
    make_maildir(folder, uid, gid)
    target = folder / ("cur" if flags else "new")
    suffix = f":2,{''.join(sorted(set(flags)))}" if flags else ""
    seconds = int(time.time())
    written = []
    for raw in messages:
        name = f"{seconds}.M{next(_counter)}P{os.getpid()}.{_HOSTNAME},S={len(raw)}{suffix}"
        path = target / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, raw)
            os.fchown(descriptor, uid, gid)
        finally:
            os.close(descriptor)
        written.append(path)
    return written


def generate_messages(count: int, *, to: str, start: int = 0) -> Iterator[bytes]:
    """`count` distinct messages for `to`, numbered from `start`."""
    return (make_message(index, to=to) for index in range(start, start + count))


def count_messages(folder: Path) -> int:
    """Messages in a Maildir folder on disk (`new/` and `cur/`); 0 if it does not exist yet."""
    return sum(len(os.listdir(folder / sub)) for sub in ("new", "cur") if (folder / sub).is_dir())


def wait_for_messages(folder: Path, count: int, timeout: float = 10.0) -> None:
    """Return once the folder holds at least `count` messages (deliveries land atomically)."""
    deadline = time.monotonic() + timeout
    while (found := count_messages(folder)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{folder}: {found} of {count} messages after {timeout} s")
        time.sleep(0.005)
