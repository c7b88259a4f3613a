"""Parsed summaries: decoded headers, attachments, and bad input stored, never dropped."""

import hashlib

import pytest
from mailbridge.fetcher.summary import sha256_hex, summarize

PLAIN = (
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.com>\r\nTo: a@example.com, B <b@example.com>\r\n"
    b"Cc: c@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@example.com>\r\n"
    b"In-Reply-To: <m0@example.com>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0100\r\n\r\nHi\r\n"
)


def test_headers_are_decoded() -> None:
    summary = summarize(PLAIN)
    assert summary.subject == "Grüße"
    assert summary.from_address == "j@example.com"
    assert summary.to_addresses == ["a@example.com", "b@example.com"]
    assert summary.cc_addresses == ["c@example.com"]
    assert (summary.message_id, summary.in_reply_to) == ("<m1@example.com>", "<m0@example.com>")
    assert summary.sent_date is not None
    assert summary.sent_date.isoformat() == "2026-11-26T09:00:00+00:00"
    assert (summary.sha256, summary.size) == (hashlib.sha256(PLAIN).hexdigest(), len(PLAIN))
    assert summary.parse_problem is None


def test_attachments_are_noticed() -> None:
    raw = (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\nSubject: s\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
        b'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n'
        b"%PDF\r\n--b--\r\n"
    )
    assert summarize(raw).has_attachments is True
    assert summarize(PLAIN).has_attachments is False


def test_garbage_is_flagged_not_dropped() -> None:
    for raw in (b"", b"garbage without headers", b"\x00\xff\xfe" * 100):
        summary = summarize(raw)
        assert summary.parse_problem
        assert summary.size == len(raw)


def test_broken_date_and_addresses_do_not_raise() -> None:
    summary = summarize(b"From: <<<>>>\r\nDate: not a date\r\nSubject: x\r\n\r\nbody")
    assert summary.sent_date is None
    assert summary.subject == "x"


def test_a_digest_computed_elsewhere_is_taken_as_it_is() -> None:
    assert sha256_hex([PLAIN, b""]) == [hashlib.sha256(PLAIN).hexdigest(), hashlib.sha256(b"").hexdigest()]
    assert summarize(PLAIN, sha256_hex([PLAIN])[0]) == summarize(PLAIN)


def test_an_attachment_line_is_found_in_any_case_and_only_at_a_line_start() -> None:
    head = b'Content-Type: multipart/mixed; boundary="b"\r\nSubject: s\r\n\r\n--b\r\n'
    assert summarize(
        head + b"CONTENT-DISPOSITION:\tAttachment; filename=a\r\n\r\nx\r\n--b--\r\n"
    ).has_attachments
    assert not summarize(
        head + b"X-Note: content-disposition: attachment\r\n\r\nx\r\n--b--\r\n"
    ).has_attachments
    assert not summarize(head + b"Content-Disposition: inline\r\n\r\nx\r\n--b--\r\n").has_attachments
    first_line = b"Content-Disposition: attachment\r\nContent-Type: multipart/mixed\r\n\r\nx"
    assert summarize(first_line).has_attachments


def test_the_header_ends_at_the_first_blank_line_whatever_the_line_ends() -> None:
    for blank in (b"\n\n", b"\r\n\r\n", b"\n\r\n", b"\r\n\n"):
        summary = summarize(b"Subject: s" + blank + b"Subject: in the body\r\n")
        assert (summary.subject, summary.parse_problem) == ("s", None)


@pytest.mark.parametrize("at", [0, 1024 * 1024 - 10, 1024 * 1024 + 3, 3 * 1024 * 1024 - 1])
def test_item3_an_attachment_line_is_found_wherever_a_large_message_has_it(at: int) -> None:
    head = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    filler = (b"x" * 70 + b"\r\n") * (3 * 1024 * 1024 // 72)
    body = filler[:at] + b"\r\nCONTENT-DISPOSITION:  attachment\r\n" + filler[at:]
    assert summarize(head + body).has_attachments
    assert not summarize(head + filler).has_attachments
