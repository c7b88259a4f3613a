"""The G6 chain over sealed (locked) outbox rows, shared by the sender and the verifier.

seal(n) = HMAC-SHA256(key, "outbox-seal" ‖ seal(n-1) ‖ canonical JSON of the row's metadata ‖
SHA-256 of its raw bytes), under the seal key the row names (`seal_key_id`; seal_keys.py). The
key is not in the database, so whoever can write there can neither rewrite a sealed row nor
build a new chain that verifies: changing any sealed row's bytes or metadata breaks its own
seal, and removing a row breaks the next one's. Deleting the newest rows leaves a shorter chain
that verifies; the signed checkpoints (outbox_checkpoints.py) catch that.

Rows sealed before keys existed (migration 0014) carry no key id and a plain SHA-256 link; they
are accepted only as the chain's beginning: an unkeyed row after a keyed one is a break.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbridge.common.seal_keys import SealKeys

GENESIS = "0" * 64
_SEAL_LABEL = b"outbox-seal\0"


@dataclass(frozen=True)
class SealedRow:
    id: str
    seq: int
    account_id: str
    message_id_header: str | None
    sent_at: datetime | None
    request: dict[str, Any]
    raw: bytes
    stored_hash: str | None
    key_id: str | None = None  # None: sealed before 0014, a plain SHA-256 link


@dataclass(frozen=True)
class Break:
    """Where the chain breaks: the row (when there is one to name), its position, and why."""

    row_id: str | None
    seq: int
    reason: str


def _content(previous: str, row: SealedRow) -> bytes:
    metadata = {
        "id": row.id, "seq": row.seq, "account_id": row.account_id,
        "message_id": row.message_id_header,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None, "request": row.request,
    }  # fmt: skip
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str).encode()
    return previous.encode() + canonical + hashlib.sha256(row.raw).hexdigest().encode()


def row_hash(previous: str, row: SealedRow) -> str:
    """The unkeyed link of a row sealed before 0014."""
    return hashlib.sha256(_content(previous, row)).hexdigest()


def row_seal(keys: SealKeys, previous: str, row: SealedRow) -> str:
    """The row's seal under the ring's newest key (`keys.newest_id` is the id to store with it)."""
    return keys.mac(_SEAL_LABEL + _content(previous, row))


class ChainCheck:
    """Checks sealed rows one at a time, in chain order, holding only the previous seal."""

    def __init__(self, keys: SealKeys) -> None:
        self._keys = keys
        self.previous, self.count, self.legacy = GENESIS, 0, 0

    def add(self, row: SealedRow) -> Break | None:
        """The break this row shows, else None (and the chain moves on to it)."""
        expected = self.count + 1
        if row.seq != expected:
            return Break(
                row.id, expected, f"chain position {expected} is missing: the next sealed row is at {row.seq}"
            )
        problem = self._seal_problem(row)
        if problem:
            return Break(row.id, row.seq, problem)
        self.previous, self.count = row.stored_hash or "", expected
        self.legacy += row.key_id is None
        return None

    def _seal_problem(self, row: SealedRow) -> str | None:
        if row.key_id is None:
            if self.legacy != self.count:
                return "an unkeyed seal after keyed ones (rewritten without the seal key)"
            return (
                None
                if row_hash(self.previous, row) == row.stored_hash
                else "its content does not match its hash"
            )
        if not self._keys.holds(row.key_id):
            return f"sealed with key {row.key_id}, which MAILBRIDGE_SEAL_KEY does not hold"
        if not self._keys.verify(
            _SEAL_LABEL + _content(self.previous, row), row.key_id, row.stored_hash or ""
        ):
            return "its seal does not match its content and the chain before it"
        return None


def first_broken(rows: list[SealedRow], keys: SealKeys) -> Break | None:
    """The first break of `rows` (in chain order), else None."""
    check = ChainCheck(keys)
    for row in rows:
        broken = check.add(row)
        if broken:
            return broken
    return None
