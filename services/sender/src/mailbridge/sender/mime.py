"""Build the bytes of one outbox mail (RFC 5322 + MIME) and its SMTP envelope (A6, A7, A9).

The Message-ID is derived from the outbox id, so building again (a retry, a resend) yields the
same id and the Sent-folder append can find an earlier copy. Bcc and the account's BCC (A9)
exist only in the envelope. The bytes are 7-bit (quoted-printable/base64 bodies, RFC 2047
headers), so any server takes them without 8BITMIME or SMTPUTF8, and they are CRLF throughout.
"""

import re
from collections.abc import Iterable
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr

from mailbridge.sender.outgoing import Attachment, OutgoingMail
from mailbridge.sender.ports import Built

FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 §3.6.8: printable US-ASCII except ':'
SEVEN_BIT_SMTP = policy.SMTP.clone(cte_type="7bit")
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


def build_message(mail: OutgoingMail, now: datetime) -> Built:
    """The mail's bytes and envelope; ValueError naming the field for an unusable value."""
    _check_headers(mail)
    if now.tzinfo is None:
        raise ValueError("now: a Date header needs an aware datetime")
    message = EmailMessage(policy=SEVEN_BIT_SMTP)
    sender = _address("from_address", mail.from_address)
    message["From"] = Address(display_name=mail.alias or "", addr_spec=sender)
    if mail.to:
        message["To"] = ", ".join(mail.to)
    if mail.cc:
        message["Cc"] = ", ".join(mail.cc)
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    message["Subject"] = mail.subject
    message["Date"] = now
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
    _set_body(message, mail.text, mail.html, mail.attachments)
    return Built(
        raw=message.as_bytes(),
        message_id=message_id(mail),
        envelope_from=sender,
        envelope_to=envelope_recipients(mail),
    )


def envelope_recipients(mail: OutgoingMail) -> tuple[str, ...]:
    """To, Cc, Bcc and the account's BCC as bare addresses, once each (case-insensitive), in order."""
    fields = [("to", mail.to), ("cc", mail.cc), ("bcc", mail.bcc)]
    fields += [("account_bcc", (mail.account_bcc,))] if mail.account_bcc else []
    seen: set[str] = set()
    recipients: list[str] = []
    for field, values in fields:
        for value in values:
            address = _address(field, value)
            if address.casefold() not in seen:
                seen.add(address.casefold())
                recipients.append(address)
    if not recipients:
        raise ValueError("to: a mail needs at least one recipient")
    return tuple(recipients)


def _set_body(
    message: EmailMessage, text: str | None, html: str | None, attachments: Iterable[Attachment]
) -> None:
    if html is not None and text is None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")
        if html is not None:
            message.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype:
            raise ValueError(f"attachments: {attachment.content_type!r} is not a type/subtype")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    for part in message.walk():
        if part is not message:  # the stdlib repeats it in every part it converts; it belongs on top only
            del part["MIME-Version"]


def _address(field: str, value: str) -> str:
    """The bare address of `Name <a@b>` or `a@b`."""
    address = parseaddr(value)[1]
    if "@" not in address:
        raise ValueError(f"{field}: {value!r} is not an e-mail address")
    return address


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
