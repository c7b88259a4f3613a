"""Addresses in header values: the fast paths find exactly what the standard library finds."""

import random
from email.utils import getaddresses, parseaddr

import pytest
from mailbridge.common.addresses import addresses, is_plain_address, mailbox

CASES = [
    "a@example.com",
    "John Smith <j@example.org>",
    "<j@example.org>",
    "John<j@example.org>",
    "=?utf-8?q?J=C3=BCrgen?= <j@example.com>",
    "a@example.com, B <b@example.com>",
    "John  Smith\r\n <j@example.org>",
    " a.b+tag@mail.example.org ",
    "a..b@c",
    "a@b..c",
    "a@b.",
    ".a@b",
    "a@b.c,",
    ", a@b.c",
    "",
    "undisclosed-recipients:;",
    '"Doe, John" <j@example.org>',
    "j@example.org (John Doe)",
    "x <a@b> y",
    "a@b <c@d>",
    "Group: a@b, c@d;",
    "<<<>>>",
    "J. Smith <j@example.org>",
    "Jürgen <j@example.org>",
    "<a@[127.0.0.1]>",
    "no address at all",
    "a@b\t,\tc@d",
    "Name\t<a@b.c>",
    "  Spaced   Out  Name   <a@b.c>  ",
]
RANDOM_PIECES = [*'a@<> ,"():;\\.\té-', "b.c", "x@y.z", "Name "]


def reference(values: list[str]) -> list[str]:
    return [address for _, address in getaddresses(values) if address and "@" in address]


@pytest.mark.parametrize("value", CASES)
def test_known_shapes(value: str) -> None:
    assert addresses([value]) == reference([value])
    assert mailbox(value) == parseaddr(value)


def test_several_values_of_one_field() -> None:
    values = ["a@b.c", "Name <d@e.f>"]
    assert addresses(values) == reference(values) == ["a@b.c", "d@e.f"]
    mixed = ["a@b.c", '"Quoted, Name" <d@e.f>']
    assert addresses(mixed) == reference(mixed)


def test_random_values_agree_with_the_standard_library() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        value = "".join(rng.choice(RANDOM_PIECES) for _ in range(rng.randint(0, 12)))
        assert addresses([value]) == reference([value]), value
        assert mailbox(value) == parseaddr(value), value


@pytest.mark.parametrize(
    ("value", "plain"),
    [("a@b.c", True), ("a.b+tag@mail.example.org", True), ("a@b", True), ("a b@c", False), ('"a"@b', False),
     ("<a@b>", False), ("a@b.", False), ("a..b@c", False), ("a@[127.0.0.1]", False), ("jörg@x.de", False),
     (" a@b", False), ("a@b\r\n", False)],
)  # fmt: skip
def test_plain_addresses_are_what_parseaddr_returns_unchanged(value: str, plain: bool) -> None:
    assert is_plain_address(value) is plain
    if plain:
        assert parseaddr(value) == ("", value)
