"""POP3 on the wire, as pure rules: what may go into a command, what the answers mean, and how
much of an answer a client keeps (RFC 1939, RFC 2449 CAPA).

A command is one line, so an argument with CR or LF in it becomes a second command (`USER x`,
CRLF, `DELE 1`): arguments with any control character are refused before anything is sent.
Answers are read against limits: a listing has at most `MAX_LISTED` lines, a message at most
the bytes the caller allows (its LIST size plus slack, never above the configured maximum),
and the terminating "." is found per line after dot-unstuffing (RFC 1939 §3).

Capabilities are kept as parsed from CAPA, so a session can decide what to send from them:
STLS before TLS; after TLS they are asked again (RFC 2595 §4); UTF8 (RFC 6856) before USER, so
a server such as Courier hands out 8-bit headers unchanged (#11).

UIDL is optional (RFC 1939 §7). A server without it gets identities from each message's header
block (`HeaderIdentities`): the same message has the same header block at every poll, whether it
came by TOP n 0 or by RETR, so it is never downloaded twice and never taken for another. Fields
that mbox-based servers rewrite as a message is read (Status, X-UID, …) are left out of it.
"""

import hashlib
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

MAX_LISTED = 1_000_000  # lines of a LIST or UIDL answer: a maildrop of a million messages
MAX_LISTING_BYTES = 64 * 1024 * 1024  # and its bytes
MAX_CAPABILITIES = 200  # lines of a CAPA answer
RETR_SLACK_MIN = 64 * 1024  # a server's LIST size may be off (LF-stored mail, a header added)


def control_character(value: str) -> str | None:
    """The first control character in `value` (escaped, e.g. "\\r"), or None."""
    for char in value:
        if unicodedata.category(char) == "Cc":
            return char.encode("unicode_escape").decode()
    return None


@dataclass(frozen=True)
class Listed:
    """One message in the maildrop: its number in this session, its UIDL (None: the server has
    no UIDL) and its LIST size."""

    number: int
    uidl: str | None
    size: int


@dataclass(frozen=True)
class Capabilities:
    """What the server said to CAPA: capability names (upper case) with their arguments."""

    names: dict[str, tuple[str, ...]]

    def offers(self, name: str) -> bool:
        return name.upper() in self.names


NONE = Capabilities({})


def parse_capabilities(lines: list[bytes]) -> Capabilities:
    names: dict[str, tuple[str, ...]] = {}
    for line in lines:
        words = line.decode("ascii", errors="replace").split()
        if words:
            names[words[0].upper()] = tuple(words[1:])
    return Capabilities(names)


def parse_pairs(lines: list[bytes], what: str) -> dict[int, str]:
    """`number value` per line (a LIST or UIDL answer); ValueError quoting a line that is not."""
    pairs: dict[int, str] = {}
    for line in lines:
        number, _, value = line.strip().partition(b" ")
        text = value.strip().decode("ascii", errors="strict") if value.isascii() else ""
        if not number.isdigit() or not text or " " in text:
            raise ValueError(f"{what} line is not 'number value': {line[:80]!r}")
        pairs[int(number)] = text
    return pairs


def listing(sizes: dict[int, str], uidls: dict[int, str] | None) -> list[Listed]:
    """The maildrop in message-number order, from LIST and UIDL answers that must agree
    (`uidls` None: the server has no UIDL)."""
    if uidls is not None and set(sizes) != set(uidls):
        raise ValueError(f"LIST names {len(sizes)} messages and UIDL {len(uidls)}, not the same ones")
    listed = []
    for number in sorted(sizes):
        if not sizes[number].isdigit():
            raise ValueError(f"LIST gives message {number} the size {sizes[number][:20]!r}")
        listed.append(Listed(number, None if uidls is None else uidls[number], int(sizes[number])))
    return listed


# Header fields a server may add or rewrite while a message sits in the maildrop (mbox servers
# mark what was read: Status, X-Status, X-UID, X-Keywords, X-IMAP(base); Content-Length, Lines).
VOLATILE_FIELDS = frozenset(
    {b"status", b"x-status", b"x-uid", b"x-keywords", b"x-imap", b"x-imapbase", b"content-length", b"lines"}
)
HEADER_IDENTITY_PREFIX = "mb-header-"  # never a UIDL a server hands out


def header_block_digest(message: bytes) -> str:
    """SHA-256 of a message's header block (up to the first empty line), its line ends and the
    volatile fields left out: the same for TOP n 0 and for RETR of the same message."""
    digest = hashlib.sha256()
    skipping = False
    for line in message.split(b"\n"):
        line = line.removesuffix(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field before
            if not skipping:
                digest.update(line + b"\n")
            continue
        skipping = line.split(b":", 1)[0].strip().lower() in VOLATILE_FIELDS
        if not skipping:
            digest.update(line + b"\n")
    return digest.hexdigest()


@dataclass
class HeaderIdentities:
    """Identities for a maildrop without UIDL, handed out in message-number order: the header
    block's digest and how many earlier messages of this listing had the same one (a message
    delivered twice, byte for byte, is two messages)."""

    _seen: Counter[str] = field(default_factory=Counter)

    def of(self, message: bytes) -> str:
        digest = header_block_digest(message)
        index = self._seen[digest]
        self._seen[digest] += 1
        return f"{HEADER_IDENTITY_PREFIX}{digest[:48]}-{index}"


def retrieval_limit(size: int, max_bytes: int) -> int:
    """The most a RETR of a message LISTed at `size` may bring before it is aborted."""
    return min(size + max(RETR_SLACK_MIN, size // 10), max_bytes)


class TooLarge(Exception):
    """A multi-line answer went past the limit it was read against."""


class MultiLine:
    """Collects a multi-line answer (after its +OK line) into one buffer: dot-unstuffed, every
    line ended by CRLF, bounded in bytes and lines. Feed it what `readline(limit)` returns: a
    piece without LF is the start of a long line, the rest of which follows."""

    def __init__(self, max_bytes: int, max_lines: int = MAX_LISTED) -> None:
        self.max_bytes, self.max_lines = max_bytes, max_lines
        self.body = bytearray()
        self.count = 0
        self.done = False
        self._line_start = True

    def feed(self, piece: bytes) -> None:
        if self._line_start:
            if piece in (b".\r\n", b".\n"):
                self.done = True
                return
            if piece.startswith(b"."):
                piece = piece[1:]
        if not piece.endswith(b"\n"):
            self._add(piece)
            self._line_start = False
            return
        content = piece[:-2] if piece.endswith(b"\r\n") else piece[:-1]
        if not content and not self._line_start and self.body.endswith(b"\r"):
            del self.body[-1:]  # a long line's CR came at the end of the piece before
        self._add(content + b"\r\n")
        self._line_start = True
        self.count += 1
        if self.count > self.max_lines:
            raise TooLarge(f"more than {self.max_lines} lines")

    def lines(self) -> list[bytes]:
        return bytes(self.body).split(b"\r\n")[:-1]

    def _add(self, data: bytes) -> None:
        if len(self.body) + len(data) > self.max_bytes:
            raise TooLarge(f"more than {self.max_bytes} bytes")
        self.body += data
