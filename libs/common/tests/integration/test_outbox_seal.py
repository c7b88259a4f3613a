"""G6 against a hostile database writer, on SQLite and PostgreSQL with a real NATS: the triggers
refuse UPDATE and DELETE of locked rows (the sender's Sent-folder mark aside); with the triggers
dropped, a changed body, the newest rows deleted, and a chain forged without the seal key are
each caught, naming the row; forged checkpoints are caught; rotation keeps old seals valid."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import cast

import nats
import pytest
from faststream.nats import NatsBroker
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.outbox_chain import row_seal
from mailbridge.common.outbox_checkpoints import CheckpointLog, checkpoint, read_checkpoints
from mailbridge.common.outbox_relay import enqueue_many, relay_once
from mailbridge.common.outbox_verify import ChainVerdict, verify_outbox
from mailbridge.common.seal_keys import SealKeys, generate_seal_key
from mailbridge.common.streams import AUDIT, ensure_streams
from mailbridge.testkit.config_rows import add_account, empty_tables
from mailbridge.testkit.sealed_outbox import publish_checkpoints, seal_rows, sealed_row, write_as_attacker
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.errors import APIError
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer


@dataclass
class World:
    sessions: async_sessionmaker[AsyncSession]
    client: NATS
    js: JetStreamContext
    keys: SealKeys
    account_id: uuid.UUID
    dialect: str

    async def verify(self, keys: SealKeys | None = None) -> ChainVerdict:
        return await verify_outbox(self.sessions, keys or self.keys, await read_checkpoints(self.js))

    async def sealed(self, count: int, keys: SealKeys | None = None) -> list[uuid.UUID]:
        ids, head = await seal_rows(self.sessions, keys or self.keys, self.account_id, count)
        await publish_checkpoints(self.js, [head])
        return ids


@pytest.fixture
async def world(database_url: str, nats_url: str) -> AsyncIterator[World]:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    await empty_tables(sessions)
    account_id = (await add_account(sessions)).account_id
    client = await nats.connect(nats_url)
    js = client.jetstream()
    await ensure_streams(js)
    yield World(sessions, client, js, SealKeys([generate_seal_key()]), account_id, engine.dialect.name)
    await empty_tables(sessions)
    await client.close()
    await engine.dispose()


async def _refused(world: World, statement: object) -> str:
    async with world.sessions() as session:
        with pytest.raises(IntegrityError) as refused:
            await session.execute(statement)  # type: ignore[call-overload]
        await session.rollback()
    return str(refused.value)


async def test_the_triggers_refuse_update_and_delete_of_locked_rows(world: World) -> None:
    [locked] = await world.sealed(1)
    where = OutboxMessage.id == locked
    for change in ({"raw": b"forged"}, {"request": {"to": ["evil@example.com"]}}, {"status": "failed"},
                   {"last_reply": "250 rewritten"}, {"locked": False}, {"chain_hash": "0" * 64}):  # fmt: skip
        assert "G6: outbox message is sent and locked" in await _refused(
            world, update(OutboxMessage).where(where).values(change)
        )
    assert "G6" in await _refused(world, delete(OutboxMessage).where(where))
    # the sender marks the mail appended to the Sent folder after sealing it: allowed, once
    async with world.sessions() as session:
        await session.execute(update(OutboxMessage).where(where).values(appended_to_sent_folder=True))
        await session.commit()
    assert "G6" in await _refused(
        world, update(OutboxMessage).where(where).values(appended_to_sent_folder=False)
    )
    assert "G6" in await _refused(
        world, update(OutboxMessage).where(where).values(appended_to_sent_folder=True, raw=b"x")
    )
    if world.dialect == "postgresql":
        assert "TRUNCATE" in await _refused(world, text("TRUNCATE outbox_messages CASCADE"))
    assert (await world.verify()).intact


async def test_rows_not_locked_change_and_go_as_before(world: World) -> None:
    async with world.sessions() as session:
        row = OutboxMessage(account_id=world.account_id, request={"to": ["a@example.org"]})
        session.add(row)
        await session.commit()
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(status="sent"))
        await session.execute(delete(OutboxMessage).where(OutboxMessage.id == row.id))
        await session.commit()


async def test_an_intact_chain_with_its_checkpoints_verifies(world: World) -> None:
    await world.sealed(3)
    await world.sealed(2)
    verdict = await world.verify()
    assert verdict == ChainVerdict(
        sealed_rows=5, intact=True, first_altered_id=None, first_broken_seq=None, reason=None,
        checkpoints=2, checkpointed_seq=5, legacy_rows=0,
    )  # fmt: skip


async def test_a_checkpoint_in_the_outbox_reaches_the_audit_stream_through_the_relay(world: World) -> None:
    """As the sender writes it: in the outbox table, in the sealing transaction; the relay
    publishes it to MAILBRIDGE_AUDIT (stream_for finds it there)."""
    _, head = await seal_rows(world.sessions, world.keys, world.account_id, 2)
    async with world.sessions() as session:
        await enqueue_many(session, [head])
        await session.commit()
    relay = cast(NatsBroker, SimpleNamespace(connection=world.client))
    assert await relay_once(world.sessions, relay, 10) == 1
    verdict = await world.verify()
    assert (verdict.intact, verdict.checkpoints, verdict.checkpointed_seq) == (True, 1, 2)


async def test_a_changed_body_is_named(world: World) -> None:
    ids = await world.sealed(3)
    await write_as_attacker(
        world.sessions, update(OutboxMessage).where(OutboxMessage.id == ids[1]).values(raw=b"x")
    )
    verdict = await world.verify()
    assert (verdict.intact, verdict.first_altered_id, verdict.first_broken_seq) == (False, str(ids[1]), 2)


async def test_deleting_the_newest_rows_is_caught_by_the_checkpoints(world: World) -> None:
    await world.sealed(3)
    newest = await world.sealed(2)
    await write_as_attacker(world.sessions, delete(OutboxMessage).where(OutboxMessage.id.in_(newest)))
    verdict = await world.verify()
    assert (verdict.intact, verdict.sealed_rows, verdict.first_broken_seq) == (False, 3, 4)
    assert verdict.reason is not None
    assert f"confirms position 5 (row {newest[1]})" in verdict.reason


async def test_a_chain_rewritten_without_the_key_is_caught(world: World) -> None:
    """The attacker rewrites the second row and re-seals it and every row after it with a key of
    their own, under our key's id; the checkpoints are left as they are (they cannot delete)."""
    ids = await world.sealed(3)
    attacker = SealKeys([generate_seal_key()])
    async with world.sessions() as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage).order_by(OutboxMessage.chain_seq).options(undefer(OutboxMessage.raw))
            )
        )
    previous, statements = rows[0].chain_hash or "", []
    for row in rows[1:]:
        raw = b"rewritten" if row.id == ids[1] else row.raw
        row.raw = raw
        previous = row_seal(attacker, previous, sealed_row(row, row.chain_seq or 0))
        statements.append(
            update(OutboxMessage).where(OutboxMessage.id == row.id).values(raw=raw, chain_hash=previous)
        )
    await write_as_attacker(world.sessions, *statements)
    verdict = await world.verify()
    assert (verdict.intact, verdict.first_altered_id, verdict.first_broken_seq) == (False, str(ids[1]), 2)


async def test_a_forged_checkpoint_is_caught(world: World) -> None:
    ids, head = await seal_rows(world.sessions, world.keys, world.account_id, 2)
    await publish_checkpoints(world.js, [head.model_copy(update={"seq": 9, "event_id": uuid.uuid4()})])
    verdict = await world.verify()
    assert not verdict.intact
    assert verdict.reason is not None
    assert "forged" in verdict.reason
    assert ids


async def test_rotation_keeps_old_seals_verifiable(world: World) -> None:
    old_key, new_key = generate_seal_key(), generate_seal_key()
    await world.sealed(2, SealKeys([old_key]))
    await world.sealed(2, SealKeys([new_key, old_key]))
    assert (await world.verify(SealKeys([new_key, old_key]))).intact
    without_old = await world.verify(SealKeys([new_key]))
    assert (without_old.intact, without_old.first_broken_seq) == (False, 1)


async def test_the_audit_stream_refuses_delete_and_purge(world: World) -> None:
    await world.sealed(1)
    info = await world.js.stream_info(AUDIT.name)
    assert (info.config.deny_delete, info.config.deny_purge) == (True, True)
    with pytest.raises(APIError, match="not permitted"):
        await world.js.delete_msg(AUDIT.name, info.state.last_seq)
    with pytest.raises(APIError, match="not permitted"):
        await world.js.purge_stream(AUDIT.name)


async def test_another_installations_checkpoints_are_passed_over(world: World) -> None:
    """Checkpoints under a key this ring does not hold (another installation on the same NATS, or
    a key taken out of the ring) neither confirm nor break this chain."""
    await world.sealed(2)
    foreign = checkpoint(SealKeys([generate_seal_key()]), 99, uuid.uuid4(), "f" * 64)
    await publish_checkpoints(world.js, [foreign])
    verdict = await world.verify()
    assert (verdict.intact, verdict.checkpoints, verdict.checkpointed_seq) == (True, 1, 2)


async def test_sealed_rows_without_an_append_only_checkpoint_stream_do_not_verify(world: World) -> None:
    await world.sealed(1)
    missing = await verify_outbox(world.sessions, world.keys, CheckpointLog(stream_found=False))
    assert (missing.intact, missing.reason) == (False, f"the checkpoint stream {AUDIT.name} does not exist")
    deletable = await verify_outbox(
        world.sessions, world.keys, CheckpointLog(stream_found=True, append_only=False)
    )
    assert deletable.reason == f"the checkpoint stream {AUDIT.name} allows deleting or purging messages"
