"""FETCH, SELECT and COPYUID response parsing."""

from mailbridge.fetcher.imap_wire import enabled, parse_copyuid, parse_fetch, parse_select


def test_parse_fetch_with_literals() -> None:
    lines: list[bytes | bytearray] = [
        b"1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {5}",
        bytearray(b"hello"),
        b")",
        b"2 FETCH (UID 6 FLAGS () BODY[] {3}",
        bytearray(b"abc"),
        b" MODSEQ (9))",
        b"Fetch completed.",
    ]
    items = parse_fetch(lines)
    assert [(i.uid, i.flags, i.body, i.modseq) for i in items] == [
        (5, ("\\Seen",), b"hello", None),
        (6, (), b"abc", 9),
    ]


def test_parse_select() -> None:
    lines: list[bytes | bytearray] = [
        b"FLAGS (\\Answered \\Seen)",
        b"3 EXISTS",
        b"OK [UIDVALIDITY 1795742683] UIDs valid",
        b"OK [UIDNEXT 5] Predicted next UID",
        b"OK [HIGHESTMODSEQ 2] Highest",
    ]
    assert parse_select(lines) == {"EXISTS": 3, "UIDVALIDITY": 1795742683, "UIDNEXT": 5, "HIGHESTMODSEQ": 2}


def test_parse_copyuid() -> None:
    assert parse_copyuid([b"OK [COPYUID 1795 4 1] Moved UIDs."]) == (1795, 1)
    assert parse_copyuid([b"OK Moved."]) is None


def test_enabled_reads_the_untagged_enabled_line() -> None:
    """#11, RFC 5161/6855: only an ENABLED line naming UTF8=ACCEPT means it is on."""
    assert enabled([b"ENABLED UTF8=ACCEPT", b"A1 OK done"], "UTF8=ACCEPT")
    assert enabled([b"* ENABLED utf8=accept", b"A1 OK done"], "UTF8=ACCEPT")
    assert not enabled([b"ENABLED", b"A1 OK done"], "UTF8=ACCEPT")
    assert not enabled([b"A1 OK UTF8=ACCEPT"], "UTF8=ACCEPT"), "the tagged line does not count"
