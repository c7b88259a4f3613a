"""G6: the hash chain names the first sealed row that was altered."""

from dataclasses import replace
from datetime import UTC, datetime

from mailbridge.common.outbox_chain import GENESIS, SealedRow, first_broken, row_hash


def _chain(count: int) -> list[SealedRow]:
    rows: list[SealedRow] = []
    previous = GENESIS
    for seq in range(1, count + 1):
        row = SealedRow(
            id=f"r{seq}", seq=seq, account_id="a", message_id_header=f"<m{seq}@x>",
            sent_at=datetime(2026, 11, 27, tzinfo=UTC),
            request={"to": ["b@example.com"], "subject": f"s{seq}"},
            raw=f"mail {seq}".encode(), stored_hash=None,
        )  # fmt: skip
        previous = row_hash(previous, row)
        rows.append(replace(row, stored_hash=previous))
    return rows


def test_intact_chain_verifies() -> None:
    assert first_broken(_chain(5)) is None


def test_altered_bytes_metadata_or_order_are_named() -> None:
    rows = _chain(5)
    assert first_broken([*rows[:2], replace(rows[2], raw=b"changed"), *rows[3:]]) == "r3"
    assert first_broken([*rows[:3], replace(rows[3], request={"to": ["evil@example.com"]}), rows[4]]) == "r4"
    assert first_broken([rows[0], rows[2], rows[1], *rows[3:]]) == "r3"
    assert first_broken([*rows[:4], replace(rows[4], stored_hash="f" * 64)]) == "r5"
