"""Budget: a weighted semaphore served in order, whose limit can change (fetcher and sender
byte budgets, the sender's connections per server)."""

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from mailbridge.common.budget import Budget


async def _started(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coroutine)
    await asyncio.sleep(0)
    return task


async def test_holds_up_to_the_limit_and_waits_beyond() -> None:
    budget = Budget(10)
    await budget.acquire(6)
    second = await _started(budget.acquire(5))
    assert not second.done()
    assert budget.held == 6
    budget.release(6)
    await asyncio.sleep(0)
    assert second.done()
    assert budget.held == 5


async def test_waiters_are_served_in_order_a_large_one_is_not_overtaken() -> None:
    budget = Budget(10)
    await budget.acquire(5)
    large = await _started(budget.acquire(8))
    small = await _started(budget.acquire(1))  # would fit now, but waits behind the large one
    assert not large.done()
    assert not small.done()
    budget.release(5)
    await asyncio.sleep(0)
    assert large.done()
    assert small.done()
    assert budget.held == 9


async def test_a_request_larger_than_the_limit_holds_the_budget_alone() -> None:
    budget = Budget(10)
    await budget.acquire(1)
    oversized = await _started(budget.acquire(60))
    assert not oversized.done()
    budget.release(1)
    await asyncio.sleep(0)
    assert oversized.done()
    assert budget.held == 60
    after = await _started(budget.acquire(1))
    assert not after.done()
    budget.release(60)
    await asyncio.sleep(0)
    assert after.done()


async def test_a_cancelled_waiter_gives_way_to_those_behind_it() -> None:
    budget = Budget(10)
    await budget.acquire(5)
    large = await _started(budget.acquire(8))
    small = await _started(budget.acquire(2))
    large.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert large.cancelled()
    assert small.done()
    assert budget.held == 7
    assert budget.waiting == 0


async def test_a_waiter_cancelled_after_being_served_gives_its_share_back() -> None:
    budget = Budget(4)
    await budget.acquire(4)
    waiter = await _started(budget.acquire(3))
    budget.release(4)  # serves the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs again
    await asyncio.sleep(0)
    assert budget.held == 0


async def test_a_lowered_limit_applies_to_new_requests() -> None:
    budget = Budget(3)
    async with budget.hold(2):
        budget.set_limit(2)
        waiter = await _started(budget.acquire(1))
        assert not waiter.done()
    await asyncio.sleep(0)
    assert waiter.done()
    assert budget.held == 1


def test_limits_and_amounts_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Budget(0)
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(Budget(1).acquire(-1))


async def _hold_one(budget: Budget, entered: list[int], n: int, release: asyncio.Event) -> None:
    async with budget.hold(1):
        entered.append(n)
        await release.wait()


async def test_a_lower_limit_admits_fewer_and_a_higher_one_lets_the_waiting_in_in_order() -> None:
    """The SMTP pool's connections per server: the bound comes down to what a server allows
    and goes back up."""
    budget, entered, release = Budget(2), list[int](), asyncio.Event()
    budget.set_limit(1)
    tasks = [asyncio.create_task(_hold_one(budget, entered, n, release)) for n in range(4)]
    await asyncio.sleep(0.01)
    assert entered == [0]
    budget.set_limit(3)
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2]
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3]
    assert budget.held == 0


async def test_a_waiter_cancelled_after_it_was_served_passes_its_place_on() -> None:
    budget, entered, release = Budget(1), list[int](), asyncio.Event()
    await budget.acquire(1)  # this test holds the only place
    second = asyncio.create_task(_hold_one(budget, entered, 1, asyncio.Event()))
    third = asyncio.create_task(_hold_one(budget, entered, 2, release))
    await asyncio.sleep(0.01)
    budget.release(1)  # the place goes to `second` (no await inside: it has not run yet) …
    second.cancel()  # … which is cancelled before it runs
    await asyncio.gather(second, return_exceptions=True)
    release.set()
    await asyncio.wait_for(third, 5)
    assert entered == [2]
    assert budget.held == 0
