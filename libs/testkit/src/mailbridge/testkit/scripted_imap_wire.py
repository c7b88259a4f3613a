"""IMAP command arguments and sequence sets as `scripted_imap`'s server reads them (pure).

Atoms and quoted strings become bytes, parenthesised lists lists; a bracketed section
(`BODY.PEEK[HEADER.FIELDS (FROM)]`) stays one atom. Literals are not read: the clients tested
here never send them.
"""

from typing import Union

Args = list[Union[bytes, "Args"]]


def parse_args(data: bytes) -> Args:
    """Atoms and quoted strings as bytes, parenthesised lists as lists (no literals: never sent by
    the clients tested here)."""
    return _parse(data, 0)[0]


def _parse(data: bytes, i: int) -> tuple[Args, int]:
    items: Args = []
    while i < len(data):
        char = data[i : i + 1]
        if char == b" ":
            i += 1
        elif char == b"(":
            inner, i = _parse(data, i + 1)
            items.append(inner)
        elif char == b")":
            return items, i + 1
        elif char == b'"':
            buffer, i = bytearray(), i + 1
            while i < len(data) and data[i : i + 1] != b'"':
                i += 1 if data[i : i + 1] == b"\\" else 0
                buffer += data[i : i + 1]
                i += 1
            items.append(bytes(buffer))
            i += 1
        else:
            start, depth = i, 0
            while i < len(data) and (depth or data[i : i + 1] not in (b" ", b"(", b")")):
                depth += {b"[": 1, b"]": -1}.get(data[i : i + 1], 0)
                i += 1
            items.append(data[start:i])
    return items, i


def sequence_set(text: str, top: int) -> set[int]:
    """The numbers of an IMAP sequence set (RFC 3501 §9: `*` is the largest in use, `n:m` is the
    same as `m:n`, and `5:*` in a mailbox whose largest is 3 means 3:5)."""
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition(":")
        low = top if first == "*" else int(first)
        high = low if not last else (top if last == "*" else int(last))
        low, high = min(low, high), min(max(low, high), top)
        found.update(n for n in range(low, high + 1) if 0 < n <= top)
    return found
