"""Text from a server or a library made fit for a person to read in a failure reason (#10 item 9):
control characters and undecodable bytes escaped, never raw binary, and short."""

import re

REASON_MAX = 300  # characters a reason may take where people read it (fetch state, outbox row)
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]")


def printable(text: str | bytes, limit: int = REASON_MAX) -> str:
    """`text` fit for a person to read: control and undecodable bytes escaped (\\x00, \\r),
    at most `limit` characters (cut with an ellipsis)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    shown = _NOT_PRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode(), text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
