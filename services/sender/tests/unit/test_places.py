"""The SMTP pool's places per key: a bound that can come down and go back up, first come first served,
and a place never lost to a cancelled waiter."""

import asyncio

from mailbridge.sender.adapters.smtp import _Places


async def hold(places: _Places, entered: list[int], n: int, release: asyncio.Event) -> None:
    async with places:
        entered.append(n)
        await release.wait()


async def test_a_lower_bound_admits_fewer_and_a_higher_one_lets_the_waiting_in_order() -> None:
    places, entered, release = _Places(2), list[int](), asyncio.Event()
    places.set_limit(1)
    tasks = [asyncio.create_task(hold(places, entered, n, release)) for n in range(4)]
    await asyncio.sleep(0.01)
    assert entered == [0]
    places.set_limit(3)
    await asyncio.sleep(0.01)
    assert entered == [0, 1, 2]
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3]
    assert places.taken == 0


async def test_a_waiter_cancelled_after_it_was_given_a_place_passes_it_on() -> None:
    places, entered, release = _Places(1), list[int](), asyncio.Event()
    await places.__aenter__()  # this test holds the only place
    second = asyncio.create_task(hold(places, entered, 1, asyncio.Event()))
    third = asyncio.create_task(hold(places, entered, 2, release))
    await asyncio.sleep(0.01)
    await places.__aexit__()  # the place goes to `second` (no await inside: it has not run yet) …
    second.cancel()  # … which is cancelled before it runs
    await asyncio.gather(second, return_exceptions=True)
    release.set()
    await asyncio.wait_for(third, 5)
    assert entered == [2]
    assert places.taken == 0
