"""Reasons people read: control characters and undecodable bytes escaped, and short."""

from mailbridge.common.printable import printable


def test_control_characters_and_bad_bytes_are_escaped() -> None:
    assert printable(b"\x00\x1b[2J ok \xff\r\n") == "\\x00\\x1b[2J ok \\xff\\r\\n"
    assert printable("Grüße – fine") == "Grüße – fine"


def test_a_long_text_is_cut_with_an_ellipsis() -> None:
    shown = printable("x" * 1000, limit=300)
    assert len(shown) == 300
    assert shown.endswith("…")
    assert shown.isprintable()
