"""Building outbox mail: headers as specified (A6, A7), Bcc only in the envelope (A9), MIME
structure, a deterministic Message-ID, CRLF 7-bit bytes, and no header injection."""

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from mailbridge.sender import mime
from mailbridge.sender.mime import WIRE, as_wire_bytes, build_message
from mailbridge.sender.outgoing import Attachment, OutgoingMail

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MAIL = OutgoingMail(
    outbox_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
    from_address="jm@example.org", alias="Jürgen Müller, Vertrieb", reply_to="team@example.org",
    to=("Bob <bob@example.net>",), cc=("carol@example.net",), bcc=("dave@example.net", "BOB@example.net"),
    account_bcc="archive@example.org", subject="Grüße aus Köln", text="Hallo Bob,\n.\nbis bald\n",
    message_id_domain="example.org",
)  # fmt: skip


def parsed(mail: OutgoingMail) -> EmailMessage:
    message = message_from_bytes(build_message(mail, NOW).raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a7_from_carries_the_alias_encoded_and_decodes_back() -> None:
    raw = build_message(MAIL, NOW).raw
    from_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"From:"))
    assert b"=?utf-8?" in from_line, "a non-ASCII display name is RFC 2047 encoded"
    address = parsed(MAIL)["From"].addresses[0]
    assert (address.display_name, address.addr_spec) == ("Jürgen Müller, Vertrieb", "jm@example.org")


def test_a7_without_alias_from_is_the_bare_address() -> None:
    raw = build_message(replace(MAIL, alias=None), NOW).raw
    assert b"\r\nFrom: jm@example.org\r\n" in b"\r\n" + raw


def test_headers_as_specified() -> None:
    message = parsed(MAIL)
    assert message["To"] == "Bob <bob@example.net>"
    assert message["Cc"] == "carol@example.net"
    assert message["Reply-To"] == "team@example.org"  # A6: replies there, the sender stays the account
    assert message["Subject"] == "Grüße aus Köln"
    assert message["Date"].datetime == NOW
    assert message["Message-ID"] == "<00000000-0000-4000-8000-000000000001@example.org>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == "Hallo Bob,\n.\nbis bald\n"


def test_message_id_is_the_same_for_every_build_of_one_outbox_row() -> None:
    first, again = build_message(MAIL, NOW), build_message(MAIL, NOW + timedelta(hours=3))
    assert first.message_id == again.message_id == "<00000000-0000-4000-8000-000000000001@example.org>"
    other = build_message(replace(MAIL, outbox_id=uuid.uuid4()), NOW)
    assert other.message_id != first.message_id


def test_a9_bcc_and_account_bcc_are_in_the_envelope_only() -> None:
    built = build_message(MAIL, NOW)
    assert built.envelope_from == "jm@example.org"
    # To, Cc, Bcc, account BCC; "BOB@example.net" repeats bob (case-insensitively) and is dropped
    assert built.envelope_to == (
        "bob@example.net",
        "carol@example.net",
        "dave@example.net",
        "archive@example.org",
    )
    assert b"dave@" not in built.raw
    assert b"archive@" not in built.raw
    assert b"bcc" not in built.raw.lower()


def test_replies_carry_in_reply_to_and_references_ending_with_the_parent() -> None:
    message = parsed(replace(MAIL, in_reply_to="<parent@x>", references=("<root@x>",)))
    assert message["In-Reply-To"] == "<parent@x>"
    assert message["References"] == "<root@x> <parent@x>"
    unchanged = parsed(replace(MAIL, in_reply_to="<parent@x>", references=("<root@x>", "<parent@x>")))
    assert unchanged["References"] == "<root@x> <parent@x>"


def test_text_and_html_are_alternatives_and_attachments_make_it_mixed() -> None:
    pdf = Attachment("Rechnung März.pdf", "application/pdf", b"%PDF-1.4 \x00\xff binary")
    message = parsed(replace(MAIL, html="<p>Hallo <b>Bob</b></p>", attachments=(pdf,)))
    assert message.get_content_type() == "multipart/mixed"
    body, attachment = message.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert attachment.get_filename() == "Rechnung März.pdf"
    assert attachment.get_content() == pdf.data
    assert message.get_all("MIME-Version") == ["1.0"]


def test_html_only() -> None:
    message = parsed(replace(MAIL, text=None, html="<p>nur HTML</p>"))
    assert message.get_content_type() == "text/html"


def test_bytes_are_7bit_with_crlf_line_ends() -> None:
    raw = build_message(replace(MAIL, html="<p>Grüße</p>"), NOW).raw
    assert raw.isascii()
    assert raw.count(b"\n") == raw.count(b"\r\n")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hi\r\nBcc: victim@example.com"),
        ("alias", "Eve\nX-Evil: 1"),
        ("reply_to", "a@example.org\r\nX: y"),
        ("to", ("bob@example.net\nBcc: victim@example.com",)),
        ("cc", ("x@example.net\r",)),
        ("references", ("<a@x>\r\nX: y",)),
        ("in_reply_to", "<a@x>\n"),
        ("extra_headers", {"X-Campaign": "a\r\nBcc: victim@example.com"}),
    ],
)
def test_header_injection_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        build_message(replace(MAIL, **{field: value}), NOW)  # type: ignore[arg-type]


def test_extra_headers_cannot_add_a_bcc_header_or_replace_own_headers() -> None:
    with pytest.raises(ValueError, match="extra_headers"):
        build_message(replace(MAIL, extra_headers={"Bcc": "victim@example.com"}), NOW)
    with pytest.raises(ValueError, match="extra_headers"):
        build_message(replace(MAIL, extra_headers={"message-id": "<forged@x>"}), NOW)
    message = parsed(replace(MAIL, extra_headers={"X-Mailbridge-Campaign": "spring"}))
    assert message["X-Mailbridge-Campaign"] == "spring"


def test_unusable_values_are_refused() -> None:
    with pytest.raises(ValueError, match="to"):
        build_message(replace(MAIL, to=(), cc=(), bcc=(), account_bcc=None), NOW)
    with pytest.raises(ValueError, match="bcc"):
        build_message(replace(MAIL, bcc=("not an address",)), NOW)
    with pytest.raises(ValueError, match=r"to: 'jörg@example\.net' is not an ASCII address"):
        build_message(replace(MAIL, to=("Jörg <jörg@example.net>",)), NOW)
    with pytest.raises(ValueError, match="now"):
        build_message(MAIL, NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match=r"cc: 'a@example\.net, b@example\.net' holds more than one address"):
        build_message(replace(MAIL, cc=("a@example.net, b@example.net",)), NOW)
    quoted_comma = parsed(replace(MAIL, cc=('"Doe, Jane" <jane@example.net>',)))
    assert quoted_comma["Cc"].addresses[0].display_name == "Doe, Jane"


def test_ascii_text_stays_readable_7bit_and_long_lines_become_quoted_printable() -> None:
    short = parsed(replace(MAIL, text="line one\nline two\n", html=None))
    assert short["Content-Transfer-Encoding"] == "7bit"
    long_line = "x" * 1200  # over RFC 5322's 998 characters a line
    raw = build_message(replace(MAIL, text=long_line, html=None), NOW).raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert message.get_content().rstrip("\r\n") == long_line


def test_non_ascii_names_in_to_and_cc_are_encoded_and_decode_back() -> None:
    message = parsed(replace(MAIL, to=("Zoë Ärger <z@example.net>", "bob@example.net")))
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("Zoë Ärger", "z@example.net"), ("", "bob@example.net"),
    ]  # fmt: skip


def test_a_body_line_starting_with_from_is_sent_as_written() -> None:
    text = "Hallo,\nFrom here on we meet at ten.\n"
    raw = build_message(replace(MAIL, text=text, html=None), NOW).raw
    assert b"\r\nFrom here on we meet at ten.\r\n" in raw
    assert b">From" not in raw


def test_the_wire_generator_writes_the_bytes_the_standard_generator_writes() -> None:
    """`as_wire_bytes` replaces the generator's per-line writing; random bodies with every kind
    of line end, multipart with attachments and non-ASCII text must come out byte for byte the same."""
    rng = random.Random(7)
    pieces = ["word", " ", "\r\n", "\n", "\r", "\r\r\n", "\n\r", ".", "From x", "ü", "\t", "=", "x" * 80]
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        html = rng.choice([None, f"<p>{text}</p>"])
        files = tuple(
            Attachment(f"f{n}.bin", "application/octet-stream", rng.randbytes(rng.randint(0, 300)))
            for n in range(rng.randint(0, 2))
        )
        mail = replace(MAIL, text=text, html=html, attachments=files)
        built = build_message(mail, NOW)
        message = message_from_bytes(built.raw, policy=WIRE)
        assert as_wire_bytes(message) == message.as_bytes(policy=WIRE)
        standard = mime._body(text, html, files)  # the tree build_message serialises, before headers
        assert as_wire_bytes(standard) == standard.as_bytes(policy=WIRE), repr(text)
