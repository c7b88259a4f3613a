"""At most one fetch per account at a time; a stalled holder cannot write after a takeover; a
running fetch keeps its short lease by a heartbeat."""

import asyncio
from datetime import timedelta
from functools import partial

import pytest
from fetcher_testing import FetchWorld, message
from mailbridge.fetcher import lease_keeper
from mailbridge.fetcher.fetch_account import Outcome
from mailbridge.fetcher.model import LeaseLost, NewMessage
from mailbridge.testkit.users import MailUser


async def test_two_fetches_of_one_account_never_overlap(world: FetchWorld, mail_user: MailUser) -> None:
    world.stack.seed(mail_user.address, [message(i, mail_user.address) for i in range(40)])
    account = await world.account(mail_user)
    results = await asyncio.gather(*(world.fetch(account) for _ in range(3)))
    outcomes = sorted(result.outcome for result in results)
    assert outcomes.count(Outcome.DONE) >= 1
    assert set(outcomes) <= {Outcome.DONE, Outcome.BUSY}
    stored = await world.stored(account)
    assert len(stored) == 40
    assert len({m.uid for m in stored}) == 40


async def test_a_stalled_holder_is_fenced_off(world: FetchWorld, mail_user: MailUser) -> None:
    account_id = await world.account(mail_user)
    store = world.deps.store
    account = await store.load_account(account_id)
    assert account is not None
    short = timedelta(milliseconds=50)
    stalled = await store.acquire_lease(account_id, "replica-a", short)
    assert stalled is not None
    assert await store.acquire_lease(account_id, "replica-b", short) is None, "held: nobody else"
    await asyncio.sleep(0.1)
    taker = await store.acquire_lease(account_id, "replica-b", timedelta(seconds=30))
    assert taker is not None
    assert taker.token > stalled.token
    late = [NewMessage("INBOX", message(1, mail_user.address), (), 1, 1)]
    with pytest.raises(LeaseLost):
        await store.store_batch(stalled, short, account, late)
    assert await world.stored(account_id) == []
    assert await store.store_batch(taker, timedelta(seconds=30), account, late) == 1


async def test_fencing_tokens_only_grow_across_releases(world: FetchWorld, mail_user: MailUser) -> None:
    account_id = await world.account(mail_user)
    store = world.deps.store
    first = await store.acquire_lease(account_id, "replica-a", timedelta(seconds=30))
    assert first is not None
    await store.release_lease(first)
    second = await store.acquire_lease(account_id, "replica-a", timedelta(seconds=30))
    assert second is not None
    assert second.token > first.token, "a released token never comes back to a stalled holder"
    assert await store.acquire_lease(account_id, "replica-b", timedelta(seconds=30)) is None


async def test_a_running_fetch_keeps_a_short_lease_and_a_killed_one_frees_it_after_its_ttl(
    world: FetchWorld, mail_user: MailUser
) -> None:
    account_id = await world.account(mail_user)
    store = world.deps.store
    ttl = timedelta(seconds=2)
    lease = await store.acquire_lease(account_id, "replica-a", ttl)
    assert lease is not None
    async with lease_keeper.kept(partial(store.renew_lease, lease, ttl), ttl):
        for _ in range(20):  # 5 s, two and a half TTLs: only the heartbeat keeps it
            await asyncio.sleep(0.25)
            assert await store.acquire_lease(account_id, "replica-b", ttl) is None
    await asyncio.sleep(ttl.total_seconds() + 0.5)  # no heartbeat any more, as after a SIGKILL
    assert await store.acquire_lease(account_id, "replica-b", ttl) is not None
