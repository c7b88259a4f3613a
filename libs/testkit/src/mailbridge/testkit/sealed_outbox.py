"""G6 for tests: sent outbox rows sealed into the chain as the sender seals them, their signed
checkpoint published to the audit stream as the relay would, and an attacker's database writes
(the lock triggers dropped first)."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.outbox_lock import create_lock_triggers, drop_lock_triggers
from mailbridge.common.events import OutboxCheckpointed
from mailbridge.common.messaging import MSG_ID_HEADER
from mailbridge.common.outbox_chain import GENESIS, SealedRow, row_seal
from mailbridge.common.outbox_checkpoints import checkpoint
from mailbridge.common.seal_keys import SealKeys
from mailbridge.common.streams import AUDIT
from nats.js import JetStreamContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SENT_AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


async def seal_rows(
    sessions: async_sessionmaker[AsyncSession], keys: SealKeys, account_id: uuid.UUID, count: int
) -> tuple[list[uuid.UUID], OutboxCheckpointed]:
    """`count` sent rows sealed after the chain's head under `keys`' newest key, and the
    checkpoint of the new head (not yet published)."""
    async with sessions() as session:
        head = (
            await session.execute(
                select(OutboxMessage.chain_seq, OutboxMessage.chain_hash).where(
                    OutboxMessage.chain_seq == select(func.max(OutboxMessage.chain_seq)).scalar_subquery()
                )
            )
        ).first()
        seq, previous = (head[0] or 0, head[1] or GENESIS) if head else (0, GENESIS)
        ids = []
        for _ in range(count):
            seq += 1
            row = OutboxMessage(
                account_id=account_id, status="sent", sent_at=SENT_AT,
                request={"to": ["bob@example.org"], "subject": f"m{seq}"},
                raw=f"Subject: m{seq}\r\n\r\nbody {seq}\r\n".encode(),
                message_id_header=f"<m{seq}@example.com>",
            )  # fmt: skip
            session.add(row)
            await session.flush()
            previous = row_seal(keys, previous, sealed_row(row, seq))
            row.locked, row.chain_seq, row.chain_hash, row.seal_key_id = True, seq, previous, keys.newest_id
            ids.append(row.id)
        await session.commit()
    return ids, checkpoint(keys, seq, ids[-1], previous)


def sealed_row(row: OutboxMessage, seq: int) -> SealedRow:
    return SealedRow(
        str(row.id),
        seq,
        str(row.account_id),
        row.message_id_header,
        row.sent_at,
        row.request,
        row.raw or b"",
        None,
    )


async def publish_checkpoints(js: JetStreamContext, found: Sequence[OutboxCheckpointed]) -> None:
    for each in found:
        await js.publish(
            each.subject, each.model_dump_json().encode(), stream=AUDIT.name,
            headers={MSG_ID_HEADER: str(each.event_id)}, timeout=10,
        )  # fmt: skip


async def write_as_attacker(sessions: async_sessionmaker[AsyncSession], *statements: Any) -> None:
    """Run `statements` with the G6 triggers dropped, as someone with database rights would; the
    triggers come back afterwards (so the tests' clean-up finds the schema as it was)."""
    async with sessions() as session:
        connection = await session.connection()
        await drop_lock_triggers(connection)
        for statement in statements:
            await session.execute(statement)
        await create_lock_triggers(connection)
        await session.commit()
