"""The lease heartbeat: beats while the block runs, survives a failed renewal, stops when the
lease was taken over, and stops with the block."""

import asyncio
from datetime import timedelta

from mailbridge.fetcher import lease_keeper
from mailbridge.fetcher.model import LeaseLost


class Renewals:
    def __init__(self, *failures: BaseException | None) -> None:
        self.calls, self.failures = 0, list(failures)

    async def __call__(self) -> None:
        self.calls += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure


async def test_beats_through_a_failed_renewal_and_stops_with_the_block() -> None:
    renewals = Renewals(OSError("database away"))
    async with lease_keeper.kept(renewals, timedelta(milliseconds=30)):
        while renewals.calls < 4:  # noqa: ASYNC110 - the heartbeat's own count, polled
            await asyncio.sleep(0.005)
    done = renewals.calls
    await asyncio.sleep(0.05)
    assert renewals.calls == done, "no beat after the block"


async def test_stops_once_the_lease_was_taken_over() -> None:
    renewals = Renewals(LeaseLost("taken"))
    async with lease_keeper.kept(renewals, timedelta(milliseconds=30)):
        await asyncio.sleep(0.1)  # ten beats' time
    assert renewals.calls == 1
