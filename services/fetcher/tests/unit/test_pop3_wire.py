"""POP3's pure rules: control characters in arguments, listings, RETR limits and the bounded
multi-line reader."""

import pytest
from mailbridge.fetcher.pop3_wire import (
    HEADER_IDENTITY_PREFIX,
    RETR_SLACK_MIN,
    HeaderIdentities,
    Listed,
    MultiLine,
    TooLarge,
    control_character,
    header_block_digest,
    listing,
    parse_capabilities,
    parse_pairs,
    retrieval_limit,
)


@pytest.mark.parametrize(
    ("value", "found"),
    [("ann@example.org", None), ("pa ss \"wörd\"", None), ("a\rb", "\\r"), ("a\nb", "\\n"),
     ("\x00", "\\x00"), ("tab\t", "\\t"), ("del\x7f", "\\x7f"), ("c1\x85", "\\x85")],
)  # fmt: skip
def test_control_characters_are_found_and_shown_escaped(value: str, found: str | None) -> None:
    assert control_character(value) == found


def test_a_listing_pairs_list_sizes_with_uidls_in_number_order() -> None:
    sizes = parse_pairs([b"2 200", b"1 100"], "LIST")
    uidls = parse_pairs([b"1 abc", b"2 def"], "UIDL")
    assert listing(sizes, uidls) == [Listed(1, "abc", 100), Listed(2, "def", 200)]


@pytest.mark.parametrize("line", [b"x 100", b"1", b"1 a b", b"\xff\xfe 1", b"1 \xff"])
def test_a_listing_line_that_is_not_number_and_value_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError, match="not 'number value'"):
        parse_pairs([line], "UIDL")


def test_list_and_uidl_must_name_the_same_messages_and_sizes_must_be_numbers() -> None:
    with pytest.raises(ValueError, match="not the same"):
        listing({1: "10"}, {1: "a", 2: "b"})
    with pytest.raises(ValueError, match="size"):
        listing({1: "ten"}, {1: "a"})


def test_a_retr_may_bring_its_size_plus_slack_never_above_the_maximum() -> None:
    assert retrieval_limit(100, 10**9) == 100 + RETR_SLACK_MIN
    assert retrieval_limit(10_000_000, 10**9) == 11_000_000
    assert retrieval_limit(99_000_000, 100_000_000) == 100_000_000


def test_capabilities_are_case_insensitive_and_keep_their_arguments() -> None:
    capabilities = parse_capabilities([b"USER", b"sasl PLAIN LOGIN", b"UTF8 USER"])
    assert capabilities.offers("sasl")
    assert capabilities.names["UTF8"] == ("USER",)
    assert not capabilities.offers("STLS")


def feed_all(reader: MultiLine, pieces: list[bytes]) -> MultiLine:
    for piece in pieces:
        reader.feed(piece)
    return reader


def test_multi_line_unstuffs_dots_and_ends_at_the_lone_dot() -> None:
    reader = feed_all(MultiLine(1000), [b"Subject: x\r\n", b"\r\n", b"..dot\r\n", b"bare lf\n", b".\r\n"])
    assert reader.done
    assert bytes(reader.body) == b"Subject: x\r\n\r\n.dot\r\nbare lf\r\n"


def test_a_long_line_in_pieces_is_joined_even_when_its_cr_ends_a_piece() -> None:
    reader = feed_all(MultiLine(1000), [b".start", b" middle\r", b"\n", b"next\r\n", b".\r\n"])
    assert bytes(reader.body) == b"start middle\r\nnext\r\n"
    assert reader.lines() == [b"start middle", b"next"]


def test_multi_line_stops_past_its_bytes_or_lines() -> None:
    with pytest.raises(TooLarge, match="more than 10 bytes"):
        feed_all(MultiLine(10), [b"0123456789", b"more"])
    with pytest.raises(TooLarge, match="more than 2 lines"):
        feed_all(MultiLine(1000, max_lines=2), [b"a\r\n", b"b\r\n", b"c\r\n"])


def test_without_uidl_a_listing_has_no_uidls() -> None:
    """#11: UIDL is optional (RFC 1939 §7)."""
    assert listing(parse_pairs([b"1 10", b"2 20"], "LIST"), None) == [
        Listed(1, None, 10),
        Listed(2, None, 20),
    ]


MESSAGE = b"Received: by mx\r\nSubject: hi\r\n\tthere\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"


def test_a_header_identity_is_the_same_from_top_and_retr_and_ignores_what_servers_rewrite() -> None:
    """#11, S7/S11: without UIDL the header block is the identity: TOP n 0 (header only) and
    RETR give the same; line ends and the Status/X-UID fields an mbox server adds do not count."""
    top = MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    marked = MESSAGE.replace(b"Subject:", b"Status: RO\r\nX-UID: 7\r\n  folded\r\nSubject:")
    digests = {header_block_digest(m) for m in (MESSAGE, top, MESSAGE.replace(b"\r\n", b"\n"), marked)}
    assert len(digests) == 1
    assert header_block_digest(MESSAGE.replace(b"there", b"where")) not in digests
    assert header_block_digest(MESSAGE.replace(b"body", b"other body")) in digests


def test_header_identities_tell_twins_apart_in_message_number_order() -> None:
    identities = HeaderIdentities()
    first, twin, other = identities.of(MESSAGE), identities.of(MESSAGE), identities.of(b"Subject: x\r\n\r\n")
    assert len({first, twin, other}) == 3
    assert first.startswith(HEADER_IDENTITY_PREFIX)
    assert (first.endswith("-0"), twin.endswith("-1")) == (True, True)
    assert len(first) <= 100, "fits the pop3_seen.uidl column"
    assert HeaderIdentities().of(MESSAGE) == first, "the same at the next poll"
