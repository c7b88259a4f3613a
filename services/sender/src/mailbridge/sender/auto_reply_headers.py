"""Reading a fetched message's header fields for the out-of-office rules (A12,
`auto_reply_rules`): pure, no I/O. Values are unfolded (RFC 5322 §2.2.3) before they are read;
addresses by `email.utils`; a subject's RFC 2047 words decoded; anything with a control
character is no address or message id, so nothing from the original can inject a header into
the reply."""

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import parseaddr, parsedate_to_datetime


@dataclass(frozen=True)
class Incoming:
    """The fetched message: its folder and header fields (lower-case name → values, in order)."""

    folder: str
    headers: Mapping[str, Sequence[str]]

    def first(self, name: str) -> str | None:
        values = self.headers.get(name)
        return unfolded(values[0]) if values else None

    def all(self, name: str) -> list[str]:
        return [unfolded(value) for value in self.headers.get(name, ())]

    def date(self) -> datetime | None:
        """The Date field as an aware time; None when missing, unreadable or of no known zone."""
        value = self.first("date")
        if value is None:
            return None
        try:
            dated = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        return dated if dated.tzinfo is not None else None  # "-0000": no known zone


def envelope_sender(message: Incoming) -> str:
    """Return-Path (the first: the delivering server's), else Sender, else From; "" for the null
    sender `<>`, for none, or for a value that holds no address."""
    return_path = message.first("return-path")
    if return_path is not None:
        value = return_path.strip()
        if value in ("<>", ""):
            return ""
        return address_in(value)
    for name in ("sender", "from"):
        value_or_none = message.first(name)
        if value_or_none is not None:
            return address_in(value_or_none)
    return ""


def address_in(value: str) -> str:
    _, address = parseaddr(value)
    address = address.strip()
    return address if "@" in address and printable(address) and " " not in address else ""


def message_id_in(value: str | None) -> str | None:
    found = (value or "").split()
    return found[0] if found and is_message_id(found[0]) else None


def is_message_id(value: str) -> bool:
    return value.startswith("<") and value.endswith(">") and "@" in value and printable(value)


def keyword(value: str) -> str:
    """`auto-generated; type=...` → `auto-generated`: the keyword before any parameters."""
    return value.partition(";")[0].strip().lower()


def readable(value: str) -> str:
    """A subject as a person reads it: RFC 2047 words decoded, no control characters."""
    try:
        text = str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        text = value
    return " ".join("".join(ch if unicodedata.category(ch) != "Cc" else " " for ch in text).split())


def printable(value: str) -> bool:
    return all(unicodedata.category(ch) != "Cc" for ch in value)


def unfolded(value: str) -> str:
    """A header value on one line (RFC 5322 §2.2.3): a line break before white space goes."""
    return value.replace("\r\n", "").replace("\n", "").replace("\r", "")
