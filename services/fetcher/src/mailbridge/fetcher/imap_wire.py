"""IMAP wire details as pure functions: FETCH, SELECT and COPYUID response parsing.

(Mailbox names and SEARCH answers: `mailbridge.common.imap_text`.) aioimaplib
hands a FETCH response over as a list of lines in which each literal (the message bytes) is
its own `bytearray` element following the line that announced it with `{size}`.
"""

import re
from dataclasses import dataclass

_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")
_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ) (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")


@dataclass(frozen=True)
class FetchedItem:
    uid: int
    flags: tuple[str, ...]
    size: int | None
    body: bytes | None
    modseq: int | None


def parse_fetch(lines: list[bytes | bytearray]) -> list[FetchedItem]:
    """Items of a FETCH response; literals are attached to the item that announced them."""
    items: list[FetchedItem] = []
    text, body = b"", None
    started = False
    for line in lines:
        if isinstance(line, bytearray):
            body = bytes(line)
            continue
        if _FETCH_START.match(line):
            if started:
                items.append(_item(text, body))
            text, body, started = line, None, True
        elif started:
            text += b" " + line
    if started:
        items.append(_item(text, body))
    return [item for item in items if item.uid > 0]


def _item(text: bytes, body: bytes | None) -> FetchedItem:
    uid = _UID.search(text)
    size = _SIZE.search(text)
    flags = _FLAGS.search(text)
    modseq = _MODSEQ.search(text)
    return FetchedItem(
        uid=int(uid.group(1)) if uid else 0,
        flags=tuple(flags.group(1).decode(errors="replace").split()) if flags else (),
        size=int(size.group(1)) if size else None,
        body=body,
        modseq=int(modseq.group(1)) if modseq else None,
    )


_COPYUID = re.compile(rb"\[COPYUID (\d+) (\d+) (\d+)\]")


def parse_copyuid(lines: list[bytes | bytearray]) -> tuple[int, int] | None:
    """(UIDVALIDITY, new UID) of a single moved or copied message (RFC 4315 COPYUID)."""
    for line in lines:
        found = _COPYUID.search(bytes(line))
        if found:
            return int(found.group(1)), int(found.group(3))
    return None


def parse_select(lines: list[bytes | bytearray]) -> dict[str, int]:
    """UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and EXISTS from a SELECT response."""
    found: dict[str, int] = {}
    for line in lines:
        if isinstance(line, bytearray):
            continue
        for name, value in _CODE.findall(line):
            found[name.decode()] = int(value)
        exists = _EXISTS.match(line)
        if exists:
            found["EXISTS"] = int(exists.group(1))
    return found


_LIST = re.compile(rb'(?:LIST )?\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.+)$', re.IGNORECASE)


def listed_noselect(lines: list[bytes | bytearray], mailbox: str) -> bool:
    """Whether a LIST answer shows `mailbox` (the argument as sent: quoted, in the encoding the
    session uses) as \\Noselect: a name that holds no messages, such as Gmail's [Gmail] (RFC 3501
    §7.2.2). A name the server sends as a literal is not recognised (then: not shown so)."""
    wanted = unquoted(mailbox.encode())  # aioimaplib drops the word LIST of the untagged lines
    for line in lines[:-1]:
        found = _LIST.match(bytes(line))
        if found and unquoted(found.group(2)) == wanted and b"\\noselect" in found.group(1).lower().split():
            return True
    return False


def unquoted(word: bytes) -> bytes:
    """An IMAP quoted string's content (an atom as it is)."""
    if len(word) >= 2 and word[:1] == word[-1:] == b'"':
        return re.sub(rb"\\(.)", rb"\1", word[1:-1])
    return word


def enabled(lines: list[bytes | bytearray], capability: str) -> bool:
    """Whether an ENABLE answer's untagged ENABLED line names `capability` (RFC 5161 §3.2)."""
    for line in lines[:-1]:
        words = bytes(line).upper().split()
        if words[:1] in ([b"ENABLED"], [b"*"]) and capability.upper().encode() in words:
            return True
    return False
