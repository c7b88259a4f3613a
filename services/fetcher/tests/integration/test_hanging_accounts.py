"""Item 1 of #10 through the real command consumer on a real nats-server and database: ten accounts on
a server that greets and then never answers do not starve a healthy account. With more hanging
accounts than fetch workers, a manual fetch of the healthy one (on Dovecot) completes within a
minute, and every hanging one shows `failed` with a reason within two — never `never` — because
each hung fetch is given up at its deadline (here 3 s a step instead of 30) and releases its
worker long before JetStream's ack wait (120 s) could hand the command to another one."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faststream.nats import NatsBroker
from fetcher_testing import FetchWorld, message
from hostile_accounts import fast, fetch_state, hostile_account
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.messaging import GRACEFUL_TIMEOUT_S, create_broker, publish
from mailbridge.common.nats_embedded import start_embedded_nats
from mailbridge.common.streams import ensure_streams
from mailbridge.fetcher import subscribers
from mailbridge.testkit import hostile_imap
from mailbridge.testkit.hostile import HostileServer

HANGING = 10
WORKERS = 8  # the default MAILBRIDGE_FETCH_WORKERS
STEP_S = 3.0


@pytest.fixture
async def fetcher(world: FetchWorld, tmp_path: Path) -> AsyncIterator[NatsBroker]:
    """The fetcher's command consumers, as main.py starts them, on a private NATS."""
    nats = start_embedded_nats(tmp_path / "nats")
    broker = create_broker(nats.url, "fetcher-test")
    commands = subscribers.consumers(fast(world, STEP_S), WORKERS, max_deliver=20)
    try:
        await broker.connect()
        js = broker.connection.jetstream()
        await ensure_streams(js)
        for consumer in commands:
            await consumer.start(js)
        yield broker
    finally:
        for consumer in commands:
            await consumer.stop(GRACEFUL_TIMEOUT_S)
        await broker.stop()
        nats.stop()


async def wait_for_status(
    world: FetchWorld, accounts: list[uuid.UUID], status: str, within_s: float
) -> dict[uuid.UUID, float]:
    """When (seconds from now) each account first showed `status`."""
    started, seen = time.monotonic(), dict[uuid.UUID, float]()
    while len(seen) < len(accounts) and time.monotonic() - started < within_s:
        for account in accounts:
            state = await fetch_state(world, account)
            if account not in seen and state is not None and state.status == status:
                seen[account] = time.monotonic() - started
        await asyncio.sleep(0.2)
    return seen


async def test_item1_ten_hanging_accounts_do_not_starve_a_healthy_one(
    world: FetchWorld, fetcher: NatsBroker
) -> None:
    user = world.stack.add_user()
    world.stack.seed(user.address, [message(i, user.address) for i in range(3)])
    healthy = await world.account(user)
    with HostileServer(hostile_imap.silent_after_greeting) as server:
        hanging = [await hostile_account(world, server) for _ in range(HANGING)]
        for account in [*hanging, healthy]:  # the healthy one queues behind all the hanging ones
            await publish(fetcher, FetchRequested(account_id=account, reason=FetchReason.MANUAL), 5)
        done = await wait_for_status(world, [healthy], "ok", within_s=60)
        assert healthy in done, "the healthy account was not fetched within a minute"
        failed = await wait_for_status(world, hanging, "failed", within_s=120)
        assert set(failed) == set(hanging), "a hanging account did not show failed within two minutes"
        assert len(server.conversations) >= HANGING
    assert len(await world.stored(healthy)) == 3
    for account in hanging:
        state = await fetch_state(world, account)
        assert state is not None
        assert state.reason is not None
        assert (
            f"cannot connect to 127.0.0.1:{server.port}: no answer to CAPABILITY within 3 s" in state.reason
        )
    assert done[healthy] < 3 * STEP_S + 10, f"healthy after {done[healthy]:.1f} s"
