"""The G6 hash chain over sealed (locked) outbox rows, shared by the sender and the verifier.

hash(n) = SHA-256(hash(n-1) ‖ canonical JSON of the row's metadata ‖ SHA-256 of its raw bytes).
Changing any sealed row's bytes or metadata breaks its own hash and every hash after it.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


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


def row_hash(previous: str, row: SealedRow) -> str:
    metadata = {
        "id": row.id, "seq": row.seq, "account_id": row.account_id,
        "message_id": row.message_id_header,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None, "request": row.request,
    }  # fmt: skip
    canonical = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str).encode()
    digest = hashlib.sha256()
    digest.update(previous.encode())
    digest.update(canonical)
    digest.update(hashlib.sha256(row.raw).hexdigest().encode())
    return digest.hexdigest()


def first_broken(rows: Iterable[SealedRow]) -> str | None:
    """The id of the first row (in chain order) whose stored hash does not match, else None."""
    previous = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq or row_hash(previous, row) != row.stored_hash:
            return row.id
        previous = row.stored_hash or ""
    return None
