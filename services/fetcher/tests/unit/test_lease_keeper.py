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


class Kept:
    """The command's `in_progress()` as the fetch passes it: counts, may fail once."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls, self.fail_first = 0, fail_first

    async def __call__(self) -> None:
        self.calls += 1
        if self.fail_first and self.calls == 1:
            raise ConnectionError("NATS away")


async def test_each_renewal_keeps_the_command_too_even_when_the_renewal_failed() -> None:
    """#15: the fetch durable's ack wait follows the lease, so every beat also calls the command's
    in_progress(): after a renewal, and after one the database failed (the fetch runs on)."""
    renewals, kept = Renewals(OSError("database away")), Kept(fail_first=True)
    async with lease_keeper.kept(renewals, timedelta(milliseconds=30), kept):
        while renewals.calls < 4:  # noqa: ASYNC110 - the heartbeat's own count, polled
            await asyncio.sleep(0.005)
    assert kept.calls in (renewals.calls - 1, renewals.calls), "one in_progress per beat"
    assert kept.calls >= 3, "a failed in_progress does not stop the heartbeat"


async def test_a_lost_lease_keeps_the_command_no_longer() -> None:
    renewals, kept = Renewals(None, LeaseLost("taken")), Kept()
    async with lease_keeper.kept(renewals, timedelta(milliseconds=30), kept):
        await asyncio.sleep(0.1)  # ten beats' time
    assert (renewals.calls, kept.calls) == (2, 1)
