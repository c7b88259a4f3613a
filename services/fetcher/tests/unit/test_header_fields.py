"""Header fields read without the parser give exactly what the standard library's parser gives,
and plain header blocks (the usual ones) do take that route."""

import random

from mailbridge.fetcher.header_fields import header_fields, parsed_fields, plain_fields

PLAIN = (
    b"Received: from mx.example.net (mx.example.net [192.0.2.1])\r\n\tby mx.example.org with ESMTPS\r\n"
    b"\tfor <user@example.org>; Thu, 26 Nov 2026 10:00:00 +0000\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256;\r\n\tb=AAAA\r\n\t BBBB\r\n"
    b"From: Sender <sender@example.net>\r\nTO: a@example.org\r\nto: B <b@example.org>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nSubject:second\r\nX-Empty:\r\nX-Blank: \t\r\n"
    b"X-Folded-Empty:\r\n value on the next line\r\nX-Trailing: a\r\n \r\n"
    b'Content-Type: Multipart/Mixed ; boundary="b"\r\n\r\n'
)

NEEDS_THE_PARSER = [
    b"From nobody Thu Nov 26 10:00:00 2026\r\nSubject: mbox\r\n\r\n",  # an envelope line
    b" leading continuation\r\nSubject: s\r\n\r\n",
    b"Subject: s\r\nnot a field\r\nTo: a@example.org\r\n\r\n",
    b"Subject : space before the colon\r\n\r\n",
    b": no name\r\nSubject: s\r\n\r\n",
    b"Subject: bare LF\nTo: a@example.org\n\n",
    b"Subject: bare CR\rTo: a@example.org\r\n\r\n",
    b"Subject: caf\xc3\xa9\r\n\r\n",  # non-ASCII
    b"Subject: \xff\xfe\r\n\r\n",
    b"Subject: no blank line after the header\r\n",
    b"\r\nSubject: a blank line first\r\n\r\n",
    b"\r\n\r\n",
    b"",
]

SAME_EITHER_WAY = [
    PLAIN,
    b"Subject: form\x0cfeed and vertical\x0btab\r\n\r\n",
    b"Content-Type: text\r\n\r\n",
    b"Content-Type: a/b/c\r\n\r\n",
    b"Content-Type: multipart/alternative\r\nContent-Type: text/plain\r\n\r\n",
    b'X: (comment) "quoted: colon" <a@b>\r\n\r\n',
    b"Subject: x\r\n\t\r\n \r\n\r\n",
]


def test_plain_blocks_read_the_same_without_the_parser() -> None:
    for block in SAME_EITHER_WAY:
        assert plain_fields(block) is not None, block
        assert plain_fields(block) == parsed_fields(block), block
        assert header_fields(block) == parsed_fields(block)


def test_other_blocks_go_to_the_parser() -> None:
    for block in NEEDS_THE_PARSER:
        assert plain_fields(block) is None, block
        assert header_fields(block) == parsed_fields(block)


def test_field_values_as_the_parser_unfolds_them() -> None:
    fields = header_fields(PLAIN)
    assert fields.all("to") == ["a@example.org", "B <b@example.org>"]
    assert fields.first("subject") == "=?utf-8?q?Gr=C3=BC=C3=9Fe?="
    assert fields.all("subject")[1] == "second"
    assert fields.first("x-folded-empty") == "\r\n value on the next line"
    assert fields.first("dkim-signature") == "v=1; a=rsa-sha256;\r\n\tb=AAAA\r\n\t BBBB"
    assert fields.first("x-empty") == ""
    assert fields.content_maintype == "multipart"
    assert fields.defects == []
    assert header_fields(b"Subject: s\r\n\r\n").content_maintype == "text"
    assert header_fields(b" x\r\nSubject: s\r\n\r\n").defects == ["FirstHeaderLineIsContinuationDefect"]


def test_random_blocks_read_the_same_either_way() -> None:
    rng = random.Random(5)
    pieces = [
        b"Subject: s", b"to: a@example.org", b"From x", b" cont", b"\tcont", b"", b"X-A:", b"X-B: \t v ",
        b"Content-Type: multipart/mixed", b"bad line", b":", b"Caf\xc3\xa9: v", b"A:b:c", b"\x0b", b"X: \x1c",
    ]  # fmt: skip
    endings = [b"\r\n"] * 12 + [b"\n", b"\r"]
    for _ in range(5000):
        lines = [rng.choice(pieces) + rng.choice(endings) for _ in range(rng.randint(0, 4))]
        block = b"".join(lines) + rng.choice([b"\r\n"] * 6 + [b"", b"\n"])
        plain = plain_fields(block)
        assert plain is None or plain == parsed_fields(block), block
        assert header_fields(block) == parsed_fields(block), block
