"""G6 verification: every sealed row, the chain, and the checkpoints, with the first break named.

Shared by `mailbridge outbox verify` (which works with the system stopped) and config-api's
`GET /outbox/verify`. Sealed rows are read a page at a time in chain order (one page of raw bytes
in memory); the checkpoints (outbox_checkpoints.py) are read before them, so each row is checked
against the checkpoint at its position as it passes. The first break is the lowest position
that fails: a row whose seal does not verify, a missing position, a row that differs from its
checkpoint, or the end of the chain before the highest checkpoint (the newest rows deleted).
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.outbox_chain import Break, ChainCheck, SealedRow
from mailbridge.common.outbox_checkpoints import CheckpointLog, genuine
from mailbridge.common.seal_keys import SealKeys
from mailbridge.common.streams import AUDIT
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

PAGE = 64  # rows with their raw bytes in memory at once


@dataclass(frozen=True)
class ChainVerdict:
    sealed_rows: int
    intact: bool
    first_altered_id: str | None  # the first row that breaks, when there is a row to name
    first_broken_seq: int | None
    reason: str | None
    checkpoints: int  # genuine checkpoints of this installation's keys
    checkpointed_seq: int  # the highest position a checkpoint confirms (0: none)
    legacy_rows: int  # sealed before seal keys (0014): plain SHA-256 links


class _Checkpoints:
    """The log's genuine checkpoints by position; a forgery, and a missing stream or one that
    allows deletion while rows are sealed, are problems of their own: they name no row."""

    def __init__(self, log: CheckpointLog, keys: SealKeys) -> None:
        self.by_seq: dict[int, list[tuple[str, str]]] = {}
        self.forged: str | None = None
        self.stream_problem: str | None = None
        if not log.stream_found:
            self.stream_problem = f"the checkpoint stream {AUDIT.name} does not exist"
        elif not log.append_only:
            self.stream_problem = f"the checkpoint stream {AUDIT.name} allows deleting or purging messages"
        for stream_seq, found in log.checkpoints:
            if not keys.holds(found.key_id):
                continue  # another installation's, or a key taken out of the ring
            if not genuine(keys, found):
                self.forged = (
                    self.forged
                    or f"checkpoint {stream_seq} in {AUDIT.name} is forged (its signature does not match)"
                )
                continue
            self.by_seq.setdefault(found.seq, []).append((str(found.outbox_id), found.seal))
        self.count = sum(len(found) for found in self.by_seq.values())
        self.highest = max(self.by_seq, default=0)

    def mismatch(self, row: SealedRow) -> Break | None:
        for outbox_id, seal in self.by_seq.get(row.seq, ()):
            if (outbox_id, seal) != (row.id, row.stored_hash):
                return Break(
                    row.id, row.seq, f"it differs from the checkpoint of position {row.seq} (row {outbox_id})"
                )
        return None

    def truncation(self, length: int) -> Break | None:
        if self.highest <= length:
            return None
        first_missing = self.by_seq.get(length + 1, [(None, "")])[0][0]
        named = self.by_seq[self.highest][0][0]
        return Break(
            first_missing, length + 1,
            f"the chain ends at position {length} but a checkpoint confirms position {self.highest} "
            f"(row {named}): the newest sealed rows were deleted",
        )  # fmt: skip


async def verify_outbox(
    sessions: async_sessionmaker[AsyncSession], keys: SealKeys, log: CheckpointLog
) -> ChainVerdict:
    checkpoints = _Checkpoints(log, keys)
    chain = ChainCheck(keys)
    broken: Break | None = None
    rows = 0
    async for page in _sealed_pages(sessions):
        for row in page:
            rows += 1
            broken = broken or chain.add(row) or checkpoints.mismatch(row)
    broken = broken or checkpoints.truncation(chain.count)
    problem = checkpoints.forged or (checkpoints.stream_problem if rows else None)
    reason = broken.reason if broken else problem
    return ChainVerdict(
        sealed_rows=rows, intact=reason is None, first_altered_id=broken.row_id if broken else None,
        first_broken_seq=broken.seq if broken else None, reason=reason, checkpoints=checkpoints.count,
        checkpointed_seq=checkpoints.highest, legacy_rows=chain.legacy,
    )  # fmt: skip


async def _sealed_pages(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[list[SealedRow]]:
    after = 0
    while True:
        async with sessions() as session:
            page = [_sealed(row) for row in await session.scalars(_page(after))]
        if page:
            yield page
        if len(page) < PAGE:
            return
        after = page[-1].seq


def _page(after: int) -> Select[OutboxMessage]:
    return (
        select(OutboxMessage)
        .where(OutboxMessage.chain_seq > after)
        .order_by(OutboxMessage.chain_seq)
        .limit(PAGE)
        .options(undefer(OutboxMessage.raw))
    )


def _sealed(row: OutboxMessage) -> SealedRow:
    return SealedRow(
        id=str(row.id), seq=row.chain_seq or 0, account_id=str(row.account_id),
        message_id_header=row.message_id_header, sent_at=row.sent_at, request=row.request,
        raw=row.raw or b"", stored_hash=row.chain_hash, key_id=row.seal_key_id,
    )  # fmt: skip
