"""IMAP response framing (RFC 3501 §4.3, §7.5): a server's byte stream cut into lines and literals.

A line ends with CRLF. A line that ends with `{N}` announces a literal: exactly the next N bytes,
whatever they contain (CRLF, parentheses, `{5}`), after which the same response goes on with
another line. Network reads end anywhere: inside a line, between CR and LF, inside a literal.

Each literal is copied once, into a buffer allocated when it is announced, so a 50 MB message
costs 50 MB and not a growing buffer plus copies of every read's remainder. The up-front
allocation is capped: a server announcing a huge literal gets a buffer that grows with the bytes
it really sends. Lines are short; each is copied out of the read once.
"""

CRLF = b"\r\n"
PREALLOCATE_MAX = 64 * 1024 * 1024


def literal_size(line: bytes) -> int | None:
    """N when `line` announces a literal `{N}`, else None."""
    if not line.endswith(b"}"):
        return None
    digits = line[line.rfind(b"{") + 1 : -1]
    return int(digits) if digits.isdigit() else None


class ResponseFramer:
    """Feed it network reads; it returns the complete pieces: lines (`bytes`, without CRLF) and
    literals (`bytearray`, each right after the line that announced it)."""

    def __init__(self, preallocate_max: int = PREALLOCATE_MAX) -> None:
        self._preallocate_max = preallocate_max
        self._partial = b""  # the start of a line whose CRLF has not arrived yet
        self._literal: bytearray | None = None
        self._filled = 0  # bytes of the current literal received
        self._missing = 0  # and still to come

    @property
    def idle(self) -> bool:
        """True between complete pieces (no partial line, no literal under way)."""
        return self._literal is None and not self._partial

    def feed(self, data: bytes) -> list[bytes | bytearray]:
        pieces: list[bytes | bytearray] = []
        view = memoryview(data)
        position, end = 0, len(data)
        while position < end:
            if self._literal is not None:
                position = self._fill_literal(view, position, pieces)
                continue
            line, position = self._next_line(data, position)
            if line is None:
                break
            pieces.append(line)
            size = literal_size(line)
            if size is not None:
                self._start_literal(size, pieces)
        return pieces

    def _next_line(self, data: bytes, position: int) -> tuple[bytes | None, int]:
        if self._partial.endswith(b"\r") and data.startswith(b"\n", position):
            line, self._partial = self._partial[:-1], b""
            return line, position + 1
        found = data.find(CRLF, position)
        if found < 0:
            self._partial += data[position:]
            return None, len(data)
        line = self._partial + data[position:found] if self._partial else data[position:found]
        self._partial = b""
        return line, found + 2

    def _start_literal(self, size: int, pieces: list[bytes | bytearray]) -> None:
        if size == 0:
            pieces.append(bytearray())
            return
        self._literal = bytearray(min(size, self._preallocate_max))
        self._filled, self._missing = 0, size

    def _fill_literal(self, view: memoryview, position: int, pieces: list[bytes | bytearray]) -> int:
        literal = self._literal
        assert literal is not None
        take = min(self._missing, len(view) - position)
        # Past a capped preallocation, slice assignment appends: the buffer grows with the data.
        literal[self._filled : self._filled + take] = view[position : position + take]
        self._filled += take
        self._missing -= take
        if self._missing == 0:
            pieces.append(literal)
            self._literal = None
        return position + take
