"""IMAP text rules: modified UTF-7 mailbox names, quoted strings, SEARCH answers."""

import pytest
from mailbridge.common.imap_text import encode_mailbox, parse_search


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


def test_parse_search_with_and_without_modseq() -> None:
    assert parse_search([b"SEARCH 1 4 9 (MODSEQ 17)", b"Search completed"]) == [1, 4, 9]
    assert parse_search([b"2 3", b"Search completed"]) == [2, 3]
    assert parse_search([b"Search completed"]) == []
