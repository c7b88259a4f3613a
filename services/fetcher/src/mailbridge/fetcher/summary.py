"""The parsed summary of a fetched message: what the mailbox API lists without the raw bytes.

Parsing never loses mail: a message that does not parse is stored raw with `parse_problem` set.
Only the header section is parsed (the summary needs nothing from the body, and parsing a 50 KB
body costs more than storing it), plain ones without the standard library's parser
(`header_fields`); encoded words (RFC 2047) are decoded, values are bounded, and
the raw bytes stay byte-exact. An attachment is a part whose Content-Disposition says so.
"""

import asyncio
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime

from mailbridge.common.addresses import addresses
from mailbridge.fetcher.header_fields import HeaderFields, header_fields

MAX_HEADER = 2000
# Both start with a literal, which the regex engine finds by a fast scan (`\r?\n\r?\n` and a
# case-insensitive `^content-disposition…` in multi-line mode, the same matches, tried every byte).
_END_OF_HEADER = re.compile(rb"\n\r?\n")
_ATTACHMENT_LINE = re.compile(rb"\ncontent-disposition:[ \t]*attachment")
_PIECE, _OVERLAP = 1024 * 1024, 4096  # a line start split between pieces is in the overlap


@dataclass(frozen=True)
class Summary:
    sha256: str
    size: int
    from_address: str | None = None
    to_addresses: list[str] = field(default_factory=list)
    cc_addresses: list[str] = field(default_factory=list)
    subject: str | None = None
    sent_date: datetime | None = None
    message_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None
    has_attachments: bool = False
    parse_problem: str | None = None


def sha256_hex(raws: Sequence[bytes]) -> list[str]:
    """The messages' SHA-256 digests; hashlib lets go of the GIL, so this runs well in a thread."""
    return [hashlib.sha256(raw).hexdigest() for raw in raws]


async def summarize_batch(raws: Sequence[bytes]) -> list[Summary]:
    """Summaries of a batch, the digests computed in a thread (the event loop goes on meanwhile)."""
    digests = await asyncio.to_thread(sha256_hex, raws)
    return [summarize(raw, digest) for raw, digest in zip(raws, digests, strict=True)]


def summarize(raw: bytes, sha256: str | None = None) -> Summary:
    """Hash (unless `sha256` is given) and parse `raw`; a parsing failure is recorded, never raised."""
    digest, size = sha256 or hashlib.sha256(raw).hexdigest(), len(raw)
    try:
        end = _END_OF_HEADER.search(raw)
        header = header_fields(raw[: end.end()] if end else raw)
        if not header.values:
            return Summary(digest, size, parse_problem="no header fields: not an RFC 5322 message")
        problem = ", ".join(header.defects)[:MAX_HEADER] or None
        return Summary(
            digest, size,
            from_address=_first_address(header, "from"),
            to_addresses=_addresses(header, "to"),
            cc_addresses=_addresses(header, "cc"),
            subject=_decoded(header, "subject"),
            sent_date=_date(header),
            message_id=_plain(header, "message-id"),
            in_reply_to=_plain(header, "in-reply-to"),
            references=_plain(header, "references"),
            has_attachments=header.content_maintype == "multipart" and _has_attachment_line(raw),
            parse_problem=problem,
        )  # fmt: skip
    except Exception as error:  # noqa: BLE001 - a hostile message must never stop the fetch
        return Summary(digest, size, parse_problem=f"{type(error).__name__}: {error}"[:MAX_HEADER])


def _has_attachment_line(raw: bytes) -> bool:
    """A line anywhere that starts `Content-Disposition: attachment` (in any case), looked for a
    piece at a time: a 50 MB message lowered whole would cost two more copies of it (#10 item 3)."""
    for start in range(0, len(raw), _PIECE):
        piece = raw[max(0, start - _OVERLAP) : start + _PIECE].lower()
        if _ATTACHMENT_LINE.search(b"\n" + piece if start == 0 else piece) is not None:
            return True
    return False


def _plain(header: HeaderFields, name: str) -> str | None:
    value = header.first(name)
    return None if value is None else " ".join(value.split())[:MAX_HEADER]


def _decoded(header: HeaderFields, name: str) -> str | None:
    value = _plain(header, name)
    if value is None:
        return None
    try:
        return str(make_header(decode_header(value)))[:MAX_HEADER]
    except (UnicodeDecodeError, LookupError, ValueError):
        return value


def _addresses(header: HeaderFields, name: str) -> list[str]:
    return addresses(header.all(name))[:100]


def _first_address(header: HeaderFields, name: str) -> str | None:
    found = _addresses(header, name)
    return found[0] if found else _decoded(header, name)


def _date(header: HeaderFields) -> datetime | None:
    value = _plain(header, "date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
