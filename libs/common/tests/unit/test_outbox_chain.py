"""G6: the keyed chain names the first sealed row that was altered, removed or forged without the
key; rotation keeps older seals verifiable; rows sealed before keys existed only as the start."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from mailbridge.common.outbox_chain import GENESIS, SealedRow, first_broken, row_hash, row_seal
from mailbridge.common.seal_keys import SealKeyError, SealKeys, generate_seal_key

KEY, NEWER = generate_seal_key(), generate_seal_key()


def _row(seq: int) -> SealedRow:
    return SealedRow(
        id=f"r{seq}", seq=seq, account_id="a", message_id_header=f"<m{seq}@x>",
        sent_at=datetime(2026, 11, 27, tzinfo=UTC), request={"to": ["b@example.com"], "subject": f"s{seq}"},
        raw=f"mail {seq}".encode(), stored_hash=None,
    )  # fmt: skip


def _chain(count: int, keys: SealKeys, start: list[SealedRow] | None = None) -> list[SealedRow]:
    rows = list(start or [])
    previous = rows[-1].stored_hash or "" if rows else GENESIS
    for seq in range(len(rows) + 1, len(rows) + count + 1):
        previous = row_seal(keys, previous, _row(seq))
        rows.append(replace(_row(seq), stored_hash=previous, key_id=keys.newest_id))
    return rows


def _reason(rows: list[SealedRow], keys: SealKeys) -> tuple[str | None, str]:
    broken = first_broken(rows, keys)
    assert broken is not None
    return broken.row_id, broken.reason


def test_intact_chain_verifies() -> None:
    keys = SealKeys([KEY])
    assert first_broken(_chain(5, keys), keys) is None


def test_altered_bytes_metadata_order_or_seal_are_named() -> None:
    keys = SealKeys([KEY])
    rows = _chain(5, keys)
    assert _reason([*rows[:2], replace(rows[2], raw=b"changed"), *rows[3:]], keys)[0] == "r3"
    assert (
        _reason([*rows[:3], replace(rows[3], request={"to": ["evil@example.com"]}), rows[4]], keys)[0] == "r4"
    )
    assert _reason([rows[0], rows[2], rows[1], *rows[3:]], keys)[0] == "r3"
    assert _reason([*rows[:4], replace(rows[4], stored_hash="f" * 64)], keys)[0] == "r5"


def test_a_missing_row_breaks_the_next_one() -> None:
    keys = SealKeys([KEY])
    rows = _chain(5, keys)
    row_id, reason = _reason([*rows[:2], *rows[3:]], keys)
    assert row_id == "r4"
    assert "position 3 is missing" in reason


def test_a_chain_forged_without_the_key_does_not_verify() -> None:
    """G6: an attacker who rewrites a row and recomputes every seal after it with another key
    (the database does not hold ours) is caught at the first rewritten row."""
    keys, attacker = SealKeys([KEY]), SealKeys([generate_seal_key()])
    rows = _chain(3, keys)
    forged, previous = rows[:1], rows[0].stored_hash or ""
    for row in rows[1:]:
        row = replace(row, raw=b"rewritten") if row.id == "r2" else row
        previous = row_seal(attacker, previous, row)
        forged.append(replace(row, stored_hash=previous))  # still claiming our key's id
    assert _reason(forged, keys) == ("r2", "its seal does not match its content and the chain before it")
    unknown = [rows[0], *(replace(row, key_id=attacker.newest_id) for row in forged[1:])]
    assert "does not hold" in _reason(unknown, keys)[1]


def test_a_plain_sha256_chain_is_accepted_only_before_keyed_seals() -> None:
    """Rows sealed before 0014 (no key id) verify as the chain's start; a rewriter who turns
    keyed rows into unkeyed ones (no key needed for SHA-256) is caught."""
    keys = SealKeys([KEY])
    legacy, previous = [], GENESIS
    for seq in (1, 2):
        previous = row_hash(previous, _row(seq))
        legacy.append(replace(_row(seq), stored_hash=previous))
    rows = _chain(2, keys, legacy)
    assert first_broken(rows, keys) is None
    rewritten = replace(
        rows[3], raw=b"x", key_id=None, stored_hash=row_hash(rows[2].stored_hash or "", rows[3])
    )
    assert _reason([*rows[:3], rewritten], keys) == (
        "r4",
        "an unkeyed seal after keyed ones (rewritten without the seal key)",
    )


def test_rotation_keeps_older_seals_verifiable() -> None:
    old = SealKeys([KEY])
    rows = _chain(2, old)
    rotated = SealKeys([NEWER, KEY])
    rows = _chain(2, rotated, rows)
    assert {row.key_id for row in rows} == {old.newest_id, rotated.newest_id}
    assert first_broken(rows, rotated) is None
    assert "does not hold" in _reason(rows, SealKeys([NEWER]))[1]


def test_the_ring_is_read_from_its_environment_form_and_refuses_bad_keys() -> None:
    ring = SealKeys.from_ring(f" {NEWER}, {KEY},")
    assert ring.newest_id == SealKeys([NEWER]).newest_id
    assert KEY not in repr(ring)
    with pytest.raises(SealKeyError, match="not URL-safe base64"):
        SealKeys(["not base64!"])
    with pytest.raises(SealKeyError, match="at least 32"):
        SealKeys(["c2hvcnQ="])
    with pytest.raises(SealKeyError, match="no seal key"):
        SealKeys.from_ring(" , ")
