"""Modified UTF-7 mailbox names and FETCH/SELECT response parsing."""

import pytest
from mailbridge.fetcher.imap_wire import encode_mailbox, parse_fetch, parse_search, parse_select


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", '"INBOX"'),
        ("Entwürfe", '"Entw&APw-rfe"'),
        ("A&B", '"A&-B"'),
        ('Say "hi"', '"Say \\"hi\\""'),
        ("日本語", '"&ZeVnLIqe-"'),
    ],
)
def test_encode_mailbox(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire


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


def test_parse_search_with_and_without_modseq() -> None:
    assert parse_search([b"SEARCH 1 4 9 (MODSEQ 17)", b"Search completed"]) == [1, 4, 9]
    assert parse_search([b"2 3", b"Search completed"]) == [2, 3]
    assert parse_search([b"Search completed"]) == []
