"""Proof of horizontal scale (#15, G2, A10): three fetcher processes share 300 IMAP accounts on the
harness's Dovecot, with real NATS and PostgreSQL; one is killed with SIGKILL in the middle of a
schedule slot and the other two take its accounts; nothing is lost or stored twice.

The schedule is config-api's own G2 scheduler code (`publish_slot`: one FetchRequested per
receiving account and slot, de-duplicated by JetStream message id), driven with the clock of
three consecutive 15-minute slots instead of waiting for them: the interval is whole minutes
(`fetch_interval_minutes`), so real slots would take at least three minutes. A second publish of a
slot (another config-api replica, or the next tick) adds nothing.

Who fetched what is read from the fetchers' JSON logs ("fetch done" with the account id) and,
for the first two slots, from the fetch leases: a lease's token grows by one each time a fetch
takes it, so after slot k every token is k exactly when every account was fetched k times.

Take-over: a killed replica's leases expire after the lease time (4 s here) and its commands come
back after the fetch durable's ack wait, which follows the lease: a running fetch renews its lease
and calls its command's in_progress() together, so the durable, declared as `mailbridge setup`
declares it for this lease (`launcher.setup.durable_config`), waits the lease and a margin
(`common.consumers.fetch_ack_wait_s`: 9 s here, 35 s with the default 30 s lease; it was 120 s).
A fetch that the killed replica finished but had not acked yet is delivered again (at least
once): that account is fetched once more and stores nothing new; it is counted, not hidden.
"""

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_system import HEAVY
from faststream.nats import NatsBroker
from mailbridge.common.consumers import FETCH_QUEUE, fetch_ack_wait_s
from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.mailstore import FetchLease, StoredMessage
from mailbridge.common.db.types import utcnow
from mailbridge.common.messaging import create_broker
from mailbridge.common.secrets import SecretBox, generate_key
from mailbridge.common.streams import ensure_streams
from mailbridge.config_api.fetching.scheduler import publish_slot
from mailbridge.launcher.setup import durable_config
from mailbridge.testkit.fetcher_fleet import (
    FetcherFleet,
    ImapAccount,
    add_imap_accounts,
    add_mail_users,
    fetcher_env,
    seed_each,
    wait_for_pullers,
)
from mailbridge.testkit.stack import MailStack
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = HEAVY
ACCOUNTS = 300
FETCHERS = 3
WORKERS = 8  # MAILBRIDGE_FETCH_WORKERS, the default
LEASE_TTL_S = 4.0
ACK_WAIT_S = fetch_ack_wait_s(LEASE_TTL_S)  # what `mailbridge setup` declares for this lease
SLOT_DEADLINE_S = 60.0
SLOT_ZERO = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=15)  # G2's default


async def _wait_for(
    what: str, done: Callable[[], bool], deadline_s: float = SLOT_DEADLINE_S, every_s: float = 0.1
) -> None:
    """Poll `done()` until true, or fail after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while not done():
        assert time.monotonic() < deadline, f"not within {deadline_s} s: {what}"
        await asyncio.sleep(every_s)


async def _tokens(sessions: async_sessionmaker[AsyncSession]) -> Counter[int]:
    async with sessions() as session:
        return Counter((await session.scalars(select(FetchLease.token))).all())


async def _slot(
    sessions: async_sessionmaker[AsyncSession], broker: NatsBroker, number: int
) -> tuple[datetime | None, int]:
    return await publish_slot(sessions, broker, 5.0, SLOT_ZERO + number * INTERVAL)


Done = Counter[tuple[int, uuid.UUID]]  # (replica, account) → finished fetches


def _done(fleet: FetcherFleet) -> Done:
    return Counter(fleet.done())


def _accounts(done: Done) -> Counter[uuid.UUID]:
    per_account: Counter[uuid.UUID] = Counter()
    for (_, account), count in done.items():
        per_account[account] += count
    return per_account


def _replicas(done: Done) -> Counter[int]:
    per_replica: Counter[int] = Counter()
    for (index, _), count in done.items():
        per_replica[index] += count
    return per_replica


async def _held_by(sessions: async_sessionmaker[AsyncSession], holder: str) -> set[uuid.UUID]:
    """The accounts whose lease `holder` holds now (its fetches in flight)."""
    async with sessions() as session:
        statement = select(FetchLease.account_id).where(
            FetchLease.holder == holder, FetchLease.expires_at > utcnow()
        )
        return set((await session.scalars(statement)).all())


def _merge(seeded: dict[str, list[bytes]], more: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    return {
        address: seeded.get(address, []) + more.get(address, []) for address in seeded.keys() | more.keys()
    }


async def _assert_store_equals(
    sessions: async_sessionmaker[AsyncSession], accounts: list[ImapAccount], seeded: dict[str, list[bytes]]
) -> None:
    """Every seeded message stored once, byte-exact (SHA-256), in its own account, nothing else."""
    async with sessions() as session:
        rows = (await session.execute(select(StoredMessage.account_id, StoredMessage.sha256))).all()
    stored: dict[uuid.UUID, list[str]] = {}
    for account_id, sha256 in rows:
        stored.setdefault(account_id, []).append(sha256)
    expected = {
        account.account_id: sorted(hashlib.sha256(raw).hexdigest() for raw in seeded[account.user.address])
        for account in accounts
    }
    assert {account_id: sorted(hashes) for account_id, hashes in stored.items()} == expected


async def test_three_fetchers_share_the_schedule_and_survive_a_sigkill(
    tmp_path: Path, mail_stack: MailStack, postgres_url: str, nats: str, fleet: FetcherFleet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    key = generate_key()
    engine = create_engine(postgres_url)
    sessions = create_session_factory(engine)
    broker = create_broker(nats, "scale-test")
    users = add_mail_users(mail_stack, ACCOUNTS)
    try:
        accounts = await add_imap_accounts(sessions, SecretBox([key]), users, mail_stack.ports.imaps)
        seeded = seed_each(mail_stack, users, 3)
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js)
        monkeypatch.setenv("MAILBRIDGE_FETCH_LEASE_TTL_S", str(LEASE_TTL_S))  # as the fleet's
        durable = durable_config(FETCH_QUEUE)
        assert durable.ack_wait == ACK_WAIT_S
        await js.add_consumer(FETCH_QUEUE.stream.name, config=durable)
        fleet.env = fetcher_env(postgres_url, nats, key, mail_stack.ca_file, tmp_path, {
            "MAILBRIDGE_FETCH_LEASE_TTL_S": str(LEASE_TTL_S), "MAILBRIDGE_FETCH_WORKERS": str(WORKERS),
            # Dovecot's imap service runs at most 100 sessions (default_process_limit): 3 × 20 kept
            # connections, and no IMAP IDLE connections (#18; a setting unknown to a fetcher without it)
            "MAILBRIDGE_IMAP_KEEP_CONNECTIONS": "20", "MAILBRIDGE_DATABASE_POOL_SIZE": "4",
            "MAILBRIDGE_IMAP_IDLE_MAX": "0",
        })  # fmt: skip
        fleet.start(FETCHERS)
        await wait_for_pullers(js, FETCHERS, 60)
        started = time.monotonic()
        for number in (1, 2):
            before = _done(fleet)
            slot, new = await _slot(sessions, broker, number)
            assert new == ACCOUNTS, "one command per receiving account and slot"
            assert (await _slot(sessions, broker, number))[1] == 0, "a slot published twice adds nothing"
            wanted = number * ACCOUNTS
            await _wait_for(f"slot {number} fetched", lambda: fleet.done_count() >= wanted)  # noqa: B023
            this_slot = _done(fleet) - before
            assert _accounts(this_slot) == Counter({a.account_id: 1 for a in accounts}), (
                "every account exactly once per slot"
            )
            assert await _tokens(sessions) == Counter({number: ACCOUNTS}), "each lease taken once a slot"
            spread = _replicas(this_slot)
            print(f"slot {number} ({slot:%H:%M}): fetches per replica {sorted(spread.items())}")
            assert len(spread) == FETCHERS, "every replica took a share"
            seeded = _merge(seeded, seed_each(mail_stack, users, 1 + number, start=10 * number))
        two_slots_s = time.monotonic() - started

        # Slot 3: one replica is killed with SIGKILL while it holds fetches.
        victim, holder = 0, fleet.holder(0)
        before = _done(fleet)
        await _slot(sessions, broker, 3)
        await _wait_for(
            "the victim finished some fetches of slot 3",
            lambda: _replicas(_done(fleet) - before)[victim] >= 5,
            every_s=0.01,  # soon after: the other accounts of the slot are still queued
        )
        fleet.kill(victim)
        killed_at = time.monotonic()
        held = await _held_by(sessions, holder)
        at_kill = _done(fleet) - before
        assert sum(at_kill.values()) < ACCOUNTS, "killed in the middle of the slot"
        assert held, "the victim held fetches when it was killed"
        by_victim = {account for (index, account) in at_kill if index == victim}

        def taken_over() -> bool:
            return held <= {account for (index, account) in _done(fleet) - before if index != victim}

        await _wait_for("the survivors took the victim's accounts", taken_over, 2 * ACK_WAIT_S + 20)
        takeover_s = time.monotonic() - killed_at
        await _wait_for("slot 3 fetched", lambda: len(_accounts(_done(fleet) - before)) >= ACCOUNTS)
        this_slot = _done(fleet) - before
        per_account = _accounts(this_slot)
        twice = {account for account, count in per_account.items() if count > 1}
        assert set(per_account.values()) <= {1, 2}
        assert twice <= by_victim, "only a fetch the victim finished and had not acked comes again"
        assert len(twice) <= WORKERS
        print(
            f"two slots of {ACCOUNTS} accounts in {two_slots_s:.1f} s; slot 3: {len(held)} fetches in "
            f"the victim's hands at the SIGKILL, all taken over by the others {takeover_s:.1f} s after it "
            f"(lease {LEASE_TTL_S:.0f} s, ack wait {ACK_WAIT_S:.0f} s); fetches per replica "
            f"{sorted(_replicas(this_slot).items())}; fetched again after the kill (finished, not acked): "
            f"{len(twice)}"
        )
        await _assert_store_equals(sessions, accounts, seeded)
    finally:
        await broker.stop()
        await engine.dispose()
