"""IMAP response framing (RFC 3501 §4.3, §7.5): a server's byte stream cut into lines and literals.

A line ends with CRLF. A line that ends with `{N}` announces a literal: exactly the next N bytes,
whatever they contain (CRLF, parentheses, `{5}`), after which the same response goes on with
another line. Network reads end anywhere: inside a line, between CR and LF, inside a literal.

The framer is a buffered reader (asyncio's `BufferedProtocol` shape): it hands out the buffer the
next read goes into. While a literal is under way that is the rest of the literal's own buffer,
allocated at its announced size, so TLS decrypts a message straight into the bytes that get
stored: a 50 MB message costs 50 MB, never a growing buffer plus copies of each read. Lines go
through a small reusable buffer and are copied out once. The up-front allocation of a literal is
capped: past the cap it grows with the bytes the server really sends.

Whatever a server sends, the framer's memory stays bounded (#10 item 3): a line longer than
`max_line` (no CRLF in sight), a literal announced larger than `max_literal`, or an answer
bringing more than its `allowance` raises `FramingError` before the bytes are kept. The reader
sets the last two per command (`expect`): a body FETCH allows what the message sizes announced,
anything else a few megabytes. A long line's buffer is given back once the line is complete.
"""

CRLF = b"\r\n"
READ_SIZE = 256 * 1024
PREALLOCATE_MAX = 64 * 1024 * 1024
MAX_LINE = 8 * 1024 * 1024  # a UID SEARCH answer of a million UIDs still fits
MAX_LITERAL = 1024 * 1024  # outside a body FETCH (a mailbox name, a header): small
ALLOWANCE = 4 * MAX_LINE  # bytes an answer without bodies may bring


class FramingError(Exception):
    """The server sent more than the framer may keep; the connection cannot go on."""


def literal_size(line: bytes) -> int | None:
    """N when `line` announces a literal `{N}`, else None."""
    if not line.endswith(b"}"):
        return None
    digits = line[line.rfind(b"{") + 1 : -1]
    return int(digits) if digits.isdigit() else None


class ResponseFramer:
    """`get_buffer()`, read into it, `buffer_updated(count)` → the pieces completed by the read:
    lines (`bytes`, without CRLF) and literals (`bytearray`, right after their line).

    Buffers are never resized while handed out (a reader may still hold a view of them); they
    are replaced by larger ones instead.
    """

    def __init__(
        self, read_size: int = READ_SIZE, preallocate_max: int = PREALLOCATE_MAX, max_line: int = MAX_LINE
    ) -> None:
        self._read_size, self._preallocate_max, self._max_line = read_size, preallocate_max, max_line
        self.max_literal, self.allowance, self.left = MAX_LITERAL, ALLOWANCE, ALLOWANCE
        self._lines = bytearray(read_size)
        self._kept = 0  # bytes at the start of `_lines`: a line whose CRLF has not arrived yet
        self._literal: bytearray | None = None
        self._filled = 0  # bytes of the current literal received
        self._missing = 0  # and still to come
        self._into_literal = False  # whether the last buffer handed out was the literal's

    def expect(self, max_literal: int = MAX_LITERAL, allowance: int = ALLOWANCE) -> None:
        """Limits for the next answer: its largest literal and all its bytes."""
        self.max_literal = max_literal
        self.allowance = self.left = max(allowance, self._max_line)

    def release(self) -> None:
        """Drop the buffers (the connection is gone); what a reader still gets is discarded."""
        self._lines, self._kept, self._literal = bytearray(1024), 0, None

    def shrink(self, size: int = 4096) -> None:
        """Between answers: a small line buffer instead of `read_size` (a connection that waits in
        IMAP IDLE, #18); a longer line grows it again as any line does."""
        if self.idle and len(self._lines) > size:
            self._lines = bytearray(size)

    @property
    def idle(self) -> bool:
        """True between complete pieces (no partial line, no literal under way)."""
        return self._literal is None and self._kept == 0

    def get_buffer(self) -> memoryview:
        literal = self._literal
        if literal is not None:
            if self._filled == len(literal):  # a capped preallocation is full: grow it
                literal = self._literal = self._grown_literal(self._filled + 1)
            self._into_literal = True
            return memoryview(literal)[self._filled : self._filled + self._missing]
        self._into_literal = False
        if self._kept == len(self._lines):  # one line longer than the buffer
            self._lines = _grown(self._lines, min(2 * len(self._lines), self._max_line + 2), self._kept)
        return memoryview(self._lines)[self._kept :]

    def buffer_updated(self, count: int) -> list[bytes | bytearray]:
        pieces: list[bytes | bytearray] = []
        self.left -= count
        if self.left < 0:
            raise FramingError(f"the server sent more than the {self.allowance} bytes its answer could need")
        if self._into_literal:
            self._literal_received(count, pieces)
        else:
            self._lines_received(self._kept + count, pieces)
        return pieces

    def feed(self, data: bytes) -> list[bytes | bytearray]:
        """The same for data read elsewhere (one copy into the buffers)."""
        pieces: list[bytes | bytearray] = []
        source, position = memoryview(data), 0
        while position < len(data):
            buffer = self.get_buffer()
            count = min(len(buffer), len(data) - position)
            buffer[:count] = source[position : position + count]
            pieces += self.buffer_updated(count)
            buffer.release()
            position += count
        return pieces

    def _literal_received(self, count: int, pieces: list[bytes | bytearray]) -> None:
        self._filled += count
        self._missing -= count
        if self._missing == 0:
            assert self._literal is not None
            pieces.append(self._literal)
            self._literal = None

    def _grown_literal(self, at_least: int) -> bytearray:
        """Double a capped literal buffer, never past the announced size."""
        assert self._literal is not None
        size = min(self._filled + self._missing, max(at_least, 2 * len(self._literal)))
        return _grown(self._literal, size, self._filled)

    def _lines_received(self, end: int, pieces: list[bytes | bytearray]) -> None:
        buffer, view, start = self._lines, memoryview(self._lines), 0
        while start < end:
            if self._literal is not None:  # a literal's first bytes came with its line
                take = min(self._missing, end - start)
                literal = self._literal
                if self._filled + take > len(literal):
                    literal = self._literal = self._grown_literal(self._filled + take)
                literal[self._filled : self._filled + take] = view[start : start + take]
                self._literal_received(take, pieces)
                start += take
                continue
            found = buffer.find(CRLF, start, end)
            if found < 0:
                break
            self._check_line(found - start)
            line = bytes(view[start:found])
            pieces.append(line)
            start = found + 2
            size = literal_size(line)
            if size == 0:
                pieces.append(bytearray())
            elif size is not None:
                self._check_literal(size)
                self._literal = bytearray(min(size, self._preallocate_max))
                self._filled, self._missing = 0, size
        self._kept = end - start
        self._check_line(self._kept)
        if len(buffer) > self._read_size and self._kept < self._read_size:  # a long line is over
            self._lines = bytearray(self._read_size)
        if self._kept:  # the start of the next line moves to the front (it is short)
            self._lines[: self._kept] = bytes(view[start:end])
        view.release()

    def _check_line(self, length: int) -> None:
        if length > self._max_line:
            raise FramingError(f"the server sent a line longer than {self._max_line} bytes")

    def _check_literal(self, size: int) -> None:
        if size > self.max_literal:
            raise FramingError(
                f"the server announced {size} bytes where at most {self.max_literal} were expected"
            )


def _grown(buffer: bytearray, size: int, used: int) -> bytearray:
    """A new buffer of at least `size` bytes starting with `buffer[:used]`."""
    larger = bytearray(max(size, used))
    larger[:used] = memoryview(buffer)[:used]
    return larger
