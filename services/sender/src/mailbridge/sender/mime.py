"""Build the bytes of one outbox mail (RFC 5322 + MIME) and its SMTP envelope (A6, A7, A9).

The Message-ID is derived from the outbox id, so building again (a retry, a resend) yields the
same id and the Sent-folder append can find an earlier copy. Bcc and the account's BCC (A9)
exist only in the envelope. The bytes are 7-bit (7bit text where it is ASCII with lines of at
most 998 characters, else quoted-printable; base64 attachments; RFC 2047/2231 headers), so any
server takes them without 8BITMIME or SMTPUTF8, and they are CRLF throughout.

Built on the standard library's `email.mime` classes and `email.utils`/`email.header` (policy
compat32): header values are encoded here, once, instead of being parsed back by the header
registry of `EmailMessage` — the same bytes a mail client would write, at a fraction of the cost.
Attachments from LEAN_FROM bytes on get a placeholder instead of their base64 and are spliced in
as bytes afterwards (`base64_splice`): the same bytes, without eight times an attachment's size
in memory.
"""

import re
from collections.abc import Iterable
from datetime import datetime
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.generator import BytesGenerator
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, getaddresses
from io import BytesIO
from typing import Any

from mailbridge.common.addresses import mailbox
from mailbridge.sender.base64_splice import Splices, splice
from mailbridge.sender.outgoing import Attachment, OutgoingMail
from mailbridge.sender.ports import Built


class _Wire(Compat32):
    """compat32 with CRLF and no ">From " mangling; a short ASCII header is written as it is
    (the values set here are encoded already), everything else is folded by the standard rules."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        short = isinstance(value, str) and len(name) + len(value) + 2 <= (self.max_line_length or 78)
        if short and value.isascii() and "\r" not in value and "\n" not in value:
            return f"{name}: {value}\r\n".encode("ascii")
        return super().fold_binary(name, value)


WIRE = _Wire(linesep="\r\n", mangle_from_=False)


class _WireGenerator(BytesGenerator):
    """The standard generator, with a body's line ends made CRLF by three `str.replace` passes in
    one write instead of a regular-expression split and two writes per line (the same bytes:
    `\r\n`, then a lone `\r`, then a lone `\n` are each one line end, as the generator's own
    pattern reads them; a test compares the two)."""

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(lines.replace("\r\n", "\n").replace("\r", "\n").replace("\n", self._NL))  # type: ignore[attr-defined]  # set by flatten()


def as_wire_bytes(message: Message) -> bytes:
    """`message.as_bytes(policy=WIRE)`, through `_WireGenerator`."""
    buffer = BytesIO()
    _WireGenerator(buffer, mangle_from_=False, policy=WIRE).flatten(message)
    return buffer.getvalue()


Mailbox = tuple[str, str]  # (display name, address)
MAX_LINE = 998  # RFC 5322 §2.1.1, without the CRLF
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP
# Attachments from this size on are spliced in as bytes (`base64_splice`): the same CPU as the
# generator's way up to about 2 KB, less from 4 KB on (an 8 KB attachment: 0.67 → 0.50 ms a mail).
LEAN_FROM = 4096
VERBATIM = frozenset({"message", "multipart"})  # main types never spliced, see _attachment_part
FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 §3.6.8: printable US-ASCII except ':'

# Headers this module writes itself; an extra header may not replace them, and Bcc may never
# become a header at all.
OWN_HEADERS = frozenset(
    name.lower()
    for name in (
        "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
        "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
    )
)  # fmt: skip


def message_id(mail: OutgoingMail) -> str:
    return f"<{mail.outbox_id}@{mail.message_id_domain}>"


def build_message(mail: OutgoingMail, now: datetime, lean_from: int | None = LEAN_FROM) -> Built:
    """The mail's bytes and envelope; ValueError naming the field for an unusable value.
    Attachments of at least `lean_from` bytes are spliced in; None: every one through `email`."""
    _check_headers(mail)
    if now.tzinfo is None:
        raise ValueError("now: a Date header needs an aware datetime")
    ((_, sender),) = _mailboxes("from_address", (mail.from_address,))
    to, cc, bcc = _mailboxes("to", mail.to), _mailboxes("cc", mail.cc), _mailboxes("bcc", mail.bcc)
    account_bcc = _mailboxes("account_bcc", (mail.account_bcc,)) if mail.account_bcc else []
    splices = Splices(lean_from) if lean_from is not None else None
    message = _body(mail.text, mail.html, mail.attachments, splices)
    message["From"] = formataddr((mail.alias or "", sender), charset="utf-8")
    if to:
        message["To"] = _header(to)
    if cc:
        message["Cc"] = _header(cc)
    if mail.reply_to:
        message["Reply-To"] = _header(_mailboxes("reply_to", (mail.reply_to,)))
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(mail)
    references = list(mail.references)
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
        # RFC 5322 §3.6.4: References ends with the parent's id, even when the caller forgot it.
        references += [] if mail.in_reply_to in references else [mail.in_reply_to]
    if references:
        message["References"] = " ".join(references)
    for name, value in mail.extra_headers.items():
        message[name] = value
    raw = as_wire_bytes(message)
    return Built(
        raw=splice(raw, splices.data) if splices is not None and splices.data else raw,
        message_id=message_id(mail),
        envelope_from=sender,
        envelope_to=_envelope(to + cc + bcc + account_bcc),
    )


def _envelope(mailboxes: list[Mailbox]) -> tuple[str, ...]:
    """To, Cc, Bcc and the account's BCC as bare addresses, once each (case-insensitive), in order."""
    seen: set[str] = set()
    recipients: list[str] = []
    for _, address in mailboxes:
        if address.casefold() not in seen:
            seen.add(address.casefold())
            recipients.append(address)
    if not recipients:
        raise ValueError("to: a mail needs at least one recipient")
    return tuple(recipients)


def _body(
    text: str | None, html: str | None, attachments: Iterable[Attachment], splices: Splices | None = None
) -> Message:
    """text/plain, text/html, or both as alternatives; inside multipart/mixed with attachments."""
    if html is not None and text is None:
        body: Message = _text_part(html, "html")
    elif html is None:
        body = _text_part(text or "", "plain")
    else:
        parts = [_text_part(text or "", "plain"), _text_part(html, "html")]
        body = MIMEMultipart("alternative", _subparts=parts)
    files = [_attachment_part(attachment, splices) for attachment in attachments]
    message = MIMEMultipart("mixed", _subparts=[body, *files]) if files else body
    for part in message.walk():
        if part is not message:  # each MIME class adds it; it belongs on the top only
            del part["MIME-Version"]
    return message


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    if text.isascii() and max(map(len, text.splitlines()), default=0) <= MAX_LINE:
        return MIMEText(text, subtype, "us-ascii")  # 7bit: readable as it is
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, UTF8_QP)
    return part


def _attachment_part(attachment: Attachment, splices: Splices | None) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    if not maintype or not subtype:
        raise ValueError(f"attachments: {attachment.content_type!r} is not a type/subtype")
    part = MIMEBase(maintype, subtype)
    # The generator writes a message/* or multipart/* payload as it is (bare LF), not as lines.
    if splices is not None and len(attachment.data) >= splices.lean_from and maintype.lower() not in VERBATIM:
        part.set_payload(splices.placeholder(attachment.data))
        part["Content-Transfer-Encoding"] = "base64"  # where encode_base64 puts it
    else:
        part.set_payload(attachment.data)
        encode_base64(part)
    name = attachment.filename
    part.add_header(
        "Content-Disposition", "attachment", filename=name if name.isascii() else ("utf-8", "", name)
    )
    return part


def _mailboxes(field: str, values: Iterable[str]) -> list[Mailbox]:
    """(display name, address) of each value, each value one mailbox (`Name <a@b>` or `a@b`),
    read once for both the header and the envelope; ValueError naming the field otherwise."""
    found: list[Mailbox] = []
    for value in values:
        name, address = mailbox(value)
        if "@" not in address:
            raise ValueError(f"{field}: {value!r} is not an e-mail address")
        if not address.isascii():  # RFC 6531 (SMTPUTF8) addresses are not sent
            raise ValueError(f"{field}: {address!r} is not an ASCII address (SMTPUTF8 is not supported)")
        if "," in value and len(getaddresses([value])) > 1:
            raise ValueError(f"{field}: {value!r} holds more than one address; give each its own entry")
        found.append((name, address))
    return found


def _header(mailboxes: list[Mailbox]) -> str:
    """`Name <a@b>, c@d` with every display name RFC 2047 encoded where it is not ASCII."""
    return ", ".join(formataddr(pair, charset="utf-8") for pair in mailboxes)


def _check_headers(mail: OutgoingMail) -> None:
    """Header injection: a CR or LF in a value would start a header (or the body) of its own."""
    values: list[tuple[str, str | None]] = [
        ("from_address", mail.from_address), ("alias", mail.alias), ("reply_to", mail.reply_to),
        ("subject", mail.subject), ("in_reply_to", mail.in_reply_to), ("account_bcc", mail.account_bcc),
        ("message_id_domain", mail.message_id_domain),
    ]  # fmt: skip
    for field in ("to", "cc", "bcc", "references"):
        values += [(field, value) for value in getattr(mail, field)]
    values += [("attachments", attachment.filename) for attachment in mail.attachments]
    for name, value in mail.extra_headers.items():
        if name.lower() in OWN_HEADERS or not FIELD_NAME.match(name):
            raise ValueError(f"extra_headers: {name!r} cannot be set as an extra header")
        values.append((f"extra_headers[{name}]", value))
    for field, text in values:
        if text is not None and ("\r" in text or "\n" in text):
            raise ValueError(f"{field}: line breaks are not allowed in a header value")
