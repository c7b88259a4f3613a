"""IMAP response framing: lines and literals, whatever the network reads' boundaries."""

import tracemalloc

import pytest
from mailbridge.fetcher.imap_framing import FramingError, ResponseFramer, literal_size

TRICKY = b"a ) line\r\nwith CRLF, (parentheses) and {5}\r\n)"
STREAM = (
    b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {" + str(len(TRICKY)).encode() + b"}\r\n" + TRICKY
    + b")\r\n* 2 FETCH (UID 6 BODY[] {0}\r\n FLAGS ())\r\nA1 OK done\r\n"
)  # fmt: skip
PIECES = [
    b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[] {" + str(len(TRICKY)).encode() + b"}",
    bytearray(TRICKY),
    b")",
    b"* 2 FETCH (UID 6 BODY[] {0}",
    bytearray(),
    b" FLAGS ())",
    b"A1 OK done",
]


def feed_in_chunks(framer: ResponseFramer, data: bytes, size: int) -> list[bytes | bytearray]:
    pieces: list[bytes | bytearray] = []
    for start in range(0, len(data), size):
        pieces += framer.feed(data[start : start + size])
    return pieces


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 40, 41, 42, len(STREAM)])
def test_pieces_do_not_depend_on_read_boundaries(chunk: int) -> None:
    framer = ResponseFramer()
    pieces = feed_in_chunks(framer, STREAM, chunk)
    assert pieces == PIECES
    assert [type(p) for p in pieces] == [type(p) for p in PIECES], "literals are bytearray, lines bytes"
    assert framer.idle


def test_a_line_waits_for_its_crlf_even_when_cr_and_lf_arrive_apart() -> None:
    framer = ResponseFramer()
    assert framer.feed(b"* OK hello\r") == []
    assert not framer.idle
    assert framer.feed(b"\n* OK again\r\n") == [b"* OK hello", b"* OK again"]


def test_a_literal_waits_for_its_last_byte() -> None:
    framer = ResponseFramer()
    assert framer.feed(b"* 1 FETCH (BODY[] {4}\r\nab") == [b"* 1 FETCH (BODY[] {4}"]
    assert framer.feed(b"c") == []
    assert framer.feed(b"d)\r\n") == [bytearray(b"abcd"), b")"]


def test_literal_size() -> None:
    assert literal_size(b"* 1 FETCH (BODY[] {123}") == 123
    assert literal_size(b"* 1 FETCH (BODY[] {0}") == 0
    assert literal_size(b"* OK {not a number}") is None
    assert literal_size(b"* 1 FETCH (UID 5)") is None


def test_an_announced_size_beyond_the_cap_grows_with_the_data() -> None:
    framer = ResponseFramer(preallocate_max=4)
    body = bytes(range(256)) * 4
    pieces = feed_in_chunks(framer, b"* 1 FETCH (BODY[] {1024}\r\n" + body + b")\r\n", 100)
    assert pieces == [b"* 1 FETCH (BODY[] {1024}", bytearray(body), b")"]


def test_a_50_mb_literal_is_held_once() -> None:
    size = 50 * 1024 * 1024
    head = b"* 1 FETCH (UID 1 BODY[] {" + str(size).encode() + b"}\r\n"
    body = b"x" * size
    framer = ResponseFramer()
    framer.expect(max_literal=size, allowance=size + 1024)
    tracemalloc.start()
    try:
        pieces = framer.feed(head)
        view = memoryview(body)
        for start in range(0, size, 256 * 1024):
            pieces += framer.feed(bytes(view[start : start + 256 * 1024]))
        pieces += framer.feed(b")\r\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pieces) == 3
    assert pieces[1] == body
    assert peak < size + 2 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB literal"


def test_a_line_longer_than_the_read_buffer() -> None:
    framer = ResponseFramer(read_size=16)
    long_line = b"* SEARCH " + b" ".join(str(uid).encode() for uid in range(1, 500))
    assert feed_in_chunks(framer, long_line + b"\r\n* OK\r\n", 7) == [long_line, b"* OK"]


def test_reads_go_straight_into_the_literal() -> None:
    framer = ResponseFramer()
    assert framer.feed(b"* 1 FETCH (BODY[] {10}\r\nab") == [b"* 1 FETCH (BODY[] {10}"]
    buffer = framer.get_buffer()
    assert len(buffer) == 8, "the next read is offered exactly the rest of the literal"
    buffer[:8] = b"cdefghij"
    assert framer.buffer_updated(8) == [bytearray(b"abcdefghij")]
    assert framer.feed(b")\r\n") == [b")"]


def test_a_line_without_an_end_fails_once_it_passes_the_limit_and_holds_no_more() -> None:
    framer = ResponseFramer(read_size=1024, max_line=64 * 1024)
    framer.feed(b"* OK " + b"x" * 60 * 1024)
    with pytest.raises(FramingError, match="line longer than 65536 bytes"):
        framer.feed(b"x" * 8 * 1024)


def test_a_complete_line_over_the_limit_in_one_read_fails_too() -> None:
    framer = ResponseFramer(max_line=100)
    with pytest.raises(FramingError, match="line longer"):
        framer.feed(b"* " + b"y" * 200 + b"\r\n")


def test_a_long_line_within_the_limit_passes_and_its_buffer_is_given_back() -> None:
    framer = ResponseFramer(read_size=1024, max_line=1024 * 1024)
    line = b"* SEARCH " + b" 1234567" * 100_000
    assert feed_in_chunks(framer, line + b"\r\n", 64 * 1024) == [line]
    assert len(framer.get_buffer()) == 1024, "the grown line buffer was dropped"


def test_a_literal_announced_beyond_the_limit_is_refused_before_it_is_allocated() -> None:
    framer = ResponseFramer()
    framer.expect(max_literal=10 * 1024 * 1024, allowance=20 * 1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(FramingError, match="announced 2000000000 bytes where at most 10485760"):
            framer.feed(b"* 1 FETCH (UID 1 BODY[] {2000000000}\r\n" + b"x" * 1000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_outside_a_body_fetch_literals_are_small() -> None:
    framer = ResponseFramer()
    with pytest.raises(FramingError, match="announced"):
        framer.feed(b'* LIST () "/" {5000000}\r\n')


def test_an_answer_bringing_more_than_its_allowance_fails() -> None:
    framer = ResponseFramer(max_line=1024)
    framer.expect(max_literal=100, allowance=2048)
    framer.feed(b"* 1 EXISTS\r\n" * 150)
    with pytest.raises(FramingError, match="more than the 2048 bytes"):
        framer.feed(b"* 1 EXISTS\r\n" * 100)
    framer.expect()
    assert framer.feed(b"* 2 EXISTS\r\n") == [b"* 2 EXISTS"], "the next command starts afresh"
