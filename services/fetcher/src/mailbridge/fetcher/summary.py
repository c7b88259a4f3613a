"""The parsed summary of a fetched message: what the mailbox API lists without the raw bytes.

Parsing never loses mail: a message that does not parse is stored raw with `parse_problem` set.
Header values are decoded (RFC 2047) and bounded; the raw bytes stay byte-exact.
"""

import email
import email.policy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

MAX_HEADER = 2000


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


def summarize(raw: bytes) -> Summary:
    """Hash and parse `raw`; any parsing failure is recorded, never raised."""
    digest, size = hashlib.sha256(raw).hexdigest(), len(raw)
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        defects = [type(d).__name__ for d in message.defects]
        if not raw.strip() or not any(True for _ in message):
            return Summary(digest, size, parse_problem="no header fields: not an RFC 5322 message")
        return Summary(
            digest, size,
            from_address=_first_address(message, "from"),
            to_addresses=_addresses(message, "to"),
            cc_addresses=_addresses(message, "cc"),
            subject=_header(message, "subject"),
            sent_date=_date(message),
            message_id=_header(message, "message-id"),
            in_reply_to=_header(message, "in-reply-to"),
            references=_header(message, "references"),
            has_attachments=_has_attachments(message),
            parse_problem=", ".join(defects)[:MAX_HEADER] or None,
        )  # fmt: skip
    except Exception as error:  # noqa: BLE001 - a hostile message must never stop the fetch
        return Summary(digest, size, parse_problem=f"{type(error).__name__}: {error}"[:MAX_HEADER])


def _has_attachments(message: EmailMessage) -> bool:
    return message.is_multipart() and any(True for _ in message.iter_attachments())


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - malformed header values raise on access
        raw = message.get_all(name, failobj=[None])
        value = raw[0] if raw else None
    return None if value is None else str(value).strip()[:MAX_HEADER]


def _addresses(message: EmailMessage, name: str) -> list[str]:
    values = [str(v) for v in message.get_all(name, [])]
    return [addr for _, addr in getaddresses(values) if addr][:100]


def _first_address(message: EmailMessage, name: str) -> str | None:
    found = _addresses(message, name)
    return found[0] if found else _header(message, name)


def _date(message: EmailMessage) -> datetime | None:
    value = _header(message, "date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
