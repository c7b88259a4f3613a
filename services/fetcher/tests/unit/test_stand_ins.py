"""#11 finding 1: a server's stand-in for a message is recognised by its first header lines and
its text, never taken for the message (S11/S12 would delete the original); real messages, also
ones that look alike, are not."""

from mailbridge.fetcher.stand_ins import KNOWN_STAND_INS, SUBJECTS, reason, recognise
from mailbridge.fetcher.summary import summarize_batch
from mailbridge.testkit.hostile_pop3 import courier_stand_in

ORIGINAL = "From: Jürgen <j@example.org>\r\nSubject: Grüße\r\n\r\nHallo\r\n".encode()


def test_courier_pop3s_stand_in_is_recognised_with_crlf_or_lf() -> None:
    stand_in = courier_stand_in(ORIGINAL)
    assert recognise(stand_in) is KNOWN_STAND_INS[0]
    assert recognise(stand_in.replace(b"\r\n", b"\n")) is KNOWN_STAND_INS[0]


def test_the_reason_names_the_server_and_its_substitution() -> None:
    text = reason(KNOWN_STAND_INS[0])
    assert text.startswith("Courier POP3 sent a stand-in instead of the message")
    assert "UTF8 (RFC 6856)" in text
    assert "left on the server" in text


def test_real_messages_are_not_stand_ins() -> None:
    assert recognise(ORIGINAL) is None
    assert recognise(b"") is None
    look_alike = (
        b"From: Mail Delivery Subsystem <postmaster>\r\nSubject: Cannot display Unicode content\r\n\r\nhi\r\n"
    )
    assert recognise(look_alike) is None, "the header lines alone are not enough"
    quoted = b"Subject: fwd\r\n\r\n" + courier_stand_in(ORIGINAL)
    assert recognise(quoted) is None, "a stand-in forwarded inside a message is a real message"


def test_every_known_stand_in_says_where_it_was_read() -> None:
    assert all(s.source and s.first_lines and s.sentence for s in KNOWN_STAND_INS)


async def test_the_subject_a_stand_in_is_found_by_is_the_one_the_store_keeps() -> None:
    """#11: stand-ins stored before they were recognised are looked for by the stored subject."""
    [summary] = await summarize_batch([courier_stand_in(ORIGINAL)])
    assert {"Cannot display Unicode content"} == SUBJECTS
    assert summary.subject in SUBJECTS
