"""IMAP text rules shared by the fetcher and the sender: quoted strings, mailbox names in
modified UTF-7 (RFC 3501 §5.1.3), and the UIDs of a SEARCH answer."""

import base64
import re

_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")
_MODSEQ_SUFFIX = re.compile(rb"\(MODSEQ \d+\)")


def quoted(text: str) -> str:
    """An IMAP quoted string: backslash and double quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mailbox(name: str) -> str:
    """A mailbox name as a quoted string in modified UTF-7: `&` becomes `&-`, runs of other
    characters are UTF-16 in base64 with `,` for `/` between `&` and `-`."""

    def shifted(run: re.Match[str]) -> str:
        packed = base64.b64encode(run.group().encode("utf-16-be")).decode().rstrip("=")
        return "&" + packed.replace("/", ",") + "-"

    return quoted(_NOT_PRINTABLE.sub(shifted, name.replace("&", "&-")))


def parse_search(lines: list[bytes | bytearray]) -> list[int]:
    """UIDs of a (UID) SEARCH answer; aioimaplib hands the untagged line with or without the word
    SEARCH, and the last line is the tagged status."""
    found: list[int] = []
    for line in lines[:-1]:
        text = _MODSEQ_SUFFIX.sub(b"", bytes(line).removeprefix(b"SEARCH"))
        found += [int(token) for token in text.split() if token.isdigit()]
    return found
