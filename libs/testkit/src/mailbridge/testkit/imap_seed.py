"""Seeding and inspecting a mailbox over IMAP, the same way on every server of the matrix.

Blocking (stdlib `imaplib` over implicit TLS); tests call it from a thread or between awaits.
Messages go in with APPEND (flags included), come out by UID; nothing touches a server's files.
"""

import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterable, Sequence
from types import TracebackType

from mailbridge.testkit.interop import InteropLogin, InteropServer, client_context

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]")
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_FLAGS = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)")


class SeedError(RuntimeError):
    """The server refused a seeding command."""


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapSeeder:
    """One logged-in IMAP session for `login` on `server`: `with ImapSeeder(server, login) as s:`."""

    def __init__(self, server: InteropServer, login: InteropLogin, context: ssl.SSLContext | None = None):
        self.server = server
        self._client = imaplib.IMAP4_SSL(
            server.host, server.ports.imaps, ssl_context=context or client_context(server), timeout=30
        )
        self._check(self._client.login(login.address, login.password), "LOGIN")
        self._selected: str | None = None

    def __enter__(self) -> "ImapSeeder":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:  # fmt: skip
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self._client.logout()

    @staticmethod
    def _check(answer: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
        status, data = answer
        if status != "OK":
            raise SeedError(f"{what}: {status} {data!r}")
        return data

    def _select(self, folder: str) -> None:
        if self._selected != folder:
            self._check(self._client.select(_quoted(folder)), f"SELECT {folder}")
            self._selected = folder

    def _leave(self) -> None:
        if self._selected is not None:
            self._client.close()
            self._selected = None

    def create(self, folder: str) -> None:
        self._leave()
        self._check(self._client.create(_quoted(folder)), f"CREATE {folder}")

    def delete(self, folder: str) -> None:
        self._leave()
        self._check(self._client.delete(_quoted(folder)), f"DELETE {folder}")

    def append(self, folder: str, raw: bytes, flags: Iterable[str] = ()) -> int:
        """APPEND one message; its UID (from APPENDUID, or the highest UID after it)."""
        self._leave()
        flag_list = "(" + " ".join(flags) + ")"
        data = self._check(self._client.append(_quoted(folder), flag_list, None, raw), f"APPEND {folder}")
        found = _APPENDUID.search(b" ".join(item for item in data if isinstance(item, bytes)))
        if found:
            return int(found.group(2))
        return max(self.uids(folder))

    def uids(self, folder: str) -> list[int]:
        self._select(folder)
        data = self._check(self._client.uid("SEARCH", "ALL"), "UID SEARCH")
        raw = data[0] if data and isinstance(data[0], bytes) else b""
        return [int(uid) for uid in raw.split()]

    def flags(self, folder: str) -> dict[int, set[str]]:
        """Every message's flags by UID (\\Recent left out: it belongs to one session)."""
        self._select(folder)
        data = self._check(self._client.uid("FETCH", "1:*", "(FLAGS)"), "UID FETCH FLAGS")
        result: dict[int, set[str]] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            found = _FETCH_FLAGS.search(line)
            if found:
                uid = found.group(1) or found.group(4)
                flags = found.group(2) if found.group(2) is not None else found.group(3)
                result[int(uid)] = {flag for flag in flags.decode().split() if flag != "\\Recent"}
        return result

    def store(self, folder: str, uid: int, change: str, flags: Iterable[str]) -> None:
        """`change` is "+FLAGS", "-FLAGS" or "FLAGS"."""
        self._select(folder)
        self._check(self._client.uid("STORE", str(uid), change, "(" + " ".join(flags) + ")"), "UID STORE")

    def expunge(self, folder: str, uids: Iterable[int]) -> None:
        """Delete these messages on the server (\\Deleted, then EXPUNGE)."""
        for uid in uids:
            self.store(folder, uid, "+FLAGS", ["\\Deleted"])
        self._check(self._client.expunge(), "EXPUNGE")

    def uidvalidity(self, folder: str) -> int:
        self._leave()
        data = self._check(self._client.status(_quoted(folder), "(UIDVALIDITY)"), "STATUS")
        found = _UIDVALIDITY.search(data[0] if isinstance(data[0], bytes) else b"")
        if found is None:
            raise SeedError(f"STATUS {folder}: no UIDVALIDITY in {data!r}")
        return int(found.group(1))

    def fetch_raw(self, folder: str, uid: int) -> bytes:
        self._select(folder)
        data = self._check(self._client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH BODY")
        for item in data:
            if isinstance(item, tuple):
                return bytes(item[1])
        raise SeedError(f"UID FETCH {uid}: no body in {data!r}")
