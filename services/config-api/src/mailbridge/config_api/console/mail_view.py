"""One stored mail as the console shows it, safely (#16): the raw message parsed into its headers,
its text, its HTML sanitized by nh3 (ammonia) with remote content left out until asked, and its
attachments. Plain functions over bytes; the pages are in mailbox_routes.py.

The HTML is shown in an `<iframe sandbox>` (no `allow-scripts`, no `allow-same-origin`) whose
document is served with `frame_csp`: even a script or a remote image the sanitizer let through
could neither run nor load. Remote content means anything fetched from another server when the
mail is shown (images, backgrounds): a tracking pixel tells the sender the mail was read.
"""

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

import nh3

# Attributes that make the browser fetch something when the mail is shown.
FETCHING_ATTRIBUTES = frozenset({"src", "srcset", "background", "poster"})
REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
HTML_TAGS = nh3.ALLOWED_TAGS | {"font", "center"}
HTML_ATTRIBUTES: dict[str, set[str]] = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()} | {
    "*": {"align", "valign", "width", "height", "bgcolor", "color", "title", "dir", "lang"}
}
URL_SCHEMES = {"http", "https", "mailto", "cid", "data"}
DOWNLOAD_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class AttachmentView:
    index: int  # the part's position in the message's walk(): what the download names
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MailView:
    from_: str
    to: str
    cc: str
    subject: str
    date: str
    text: str | None
    html: str | None  # as sent: never shown before `safe_html`
    attachments: tuple[AttachmentView, ...]


def _message(raw: bytes) -> EmailMessage:
    parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)
    return parsed


def _content(part: Message | None) -> str | None:
    if part is None:
        return None
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None
    return content if isinstance(content, str) else None


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except (ValueError, IndexError):  # a header the policy cannot parse: shown as sent
        return str(message.get_all(name, [""])[0])


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or (disposition != "inline" and part.get_filename() is not None)


def parse(raw: bytes) -> MailView:
    message = _message(raw)
    attachments = []
    for index, part in enumerate(message.walk()):
        if _is_attachment(part):
            payload = part.get_payload(decode=True)
            attachments.append(
                AttachmentView(
                    index=index,
                    filename=part.get_filename() or f"attachment-{index}",
                    content_type=part.get_content_type(),
                    size=len(payload) if isinstance(payload, bytes) else 0,
                )
            )
    return MailView(
        from_=_header(message, "From"),
        to=_header(message, "To"),
        cc=_header(message, "Cc"),
        subject=_header(message, "Subject"),
        date=_header(message, "Date"),
        text=_content(message.get_body(preferencelist=("plain",))),
        html=_content(message.get_body(preferencelist=("html",))),
        attachments=tuple(attachments),
    )


def attachment(raw: bytes, index: int) -> tuple[str, bytes] | None:
    """The attachment at `index` of the message's walk: (file name, bytes); None if there is none."""
    parts = list(_message(raw).walk())
    if not 0 <= index < len(parts) or not _is_attachment(parts[index]):
        return None
    part = parts[index]
    payload = part.get_payload(decode=True)
    return part.get_filename() or f"attachment-{index}", payload if isinstance(payload, bytes) else b""


def has_remote_content(html: str) -> bool:
    """Whether the sanitized mail would fetch anything from another server when shown with it."""
    found: list[str] = []

    def note(tag: str, attribute: str, value: str) -> str | None:
        if attribute in FETCHING_ATTRIBUTES and REMOTE.match(value):
            found.append(value)
        return value

    nh3.clean(
        html, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES, url_schemes=URL_SCHEMES, attribute_filter=note
    )
    return bool(found)


def safe_html(html: str, remote: bool) -> str:
    """The mail's HTML with scripts, event handlers, styles, forms and frames removed (nh3's
    allow-list); without `remote`, no attribute that would fetch from another server."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if attribute in FETCHING_ATTRIBUTES and REMOTE.match(value) and not remote:
            return None
        return value

    return nh3.clean(
        html,
        tags=HTML_TAGS,
        attributes=HTML_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        attribute_filter=keep,
        link_rel="noopener noreferrer nofollow",
    )


def frame_csp(remote: bool) -> str:
    """The Content-Security-Policy of the mail's own document: nothing runs, nothing loads but
    inline images (and, once asked, remote images), only the console may frame it."""
    images = "data: https: http:" if remote else "data:"
    return (
        f"default-src 'none'; img-src {images}; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
    )


def frame_document(body: str) -> str:
    """The sanitized HTML as a whole document (its links open outside the frame)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><base target="_blank">'
        '<meta name="referrer" content="no-referrer"></head>\n'
        f"<body>{body}</body></html>\n"
    )
