"""Why a fetch failed, as data: transient failures are retried with backoff; permanent ones
are recorded with a readable reason and not retried until the account's configuration changes.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

REASON_MAX = 300  # characters a reason may take in the fetch state
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]")


class Kind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass
class FetchFailure(Exception):
    """Raised by adapters with a reason a person understands."""

    kind: Kind
    reason: str

    def __post_init__(self) -> None:
        self.reason = printable(self.reason)

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def transient(reason: str) -> FetchFailure:
    return FetchFailure(Kind.TRANSIENT, reason)


def permanent(reason: str) -> FetchFailure:
    return FetchFailure(Kind.PERMANENT, reason)


def printable(text: str | bytes, limit: int = REASON_MAX) -> str:
    """`text` fit for a person to read: control and undecodable bytes escaped (\\x00, \\r),
    at most `limit` characters (cut with an ellipsis)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="backslashreplace")
    shown = _NOT_PRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode(), text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
