"""Group commit: concurrent callers share batches, each gets its own result, failures stay in
their batch, and a lone caller is served at once."""

import asyncio

import pytest
from mailbridge.sender.adapters.group_commit import GroupCommit


class Recorder:
    def __init__(self, fail_when: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_when = fail_when
        self.gate = asyncio.Event()
        self.gate.set()

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        await self.gate.wait()
        if self.fail_when in items:
            raise RuntimeError(f"batch with {self.fail_when} failed")
        return [item * 10 for item in items]


async def test_callers_that_arrive_while_a_batch_runs_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group = GroupCommit(recorder.run)
    first = asyncio.ensure_future(group.submit(1))
    await asyncio.sleep(0)  # the first batch, [1], is running and held at the gate
    rest = [asyncio.ensure_future(group.submit(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await first == 10
    assert await asyncio.gather(*rest) == [20, 30, 40, 50, 60]
    assert recorder.batches == [[1], [2, 3, 4, 5, 6]]


async def test_a_lone_caller_runs_at_once() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder.run)
    assert await group.submit(7) == 70
    assert await group.submit(8) == 80
    assert recorder.batches == [[7], [8]]


async def test_batches_are_bounded() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group = GroupCommit(recorder.run, max_batch=2)
    calls = [asyncio.ensure_future(group.submit(n)) for n in range(5)]
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await asyncio.gather(*calls) == [0, 10, 20, 30, 40]
    assert [len(batch) for batch in recorder.batches] == [2, 2, 1]


async def test_a_failing_batch_fails_its_callers_only() -> None:
    recorder = Recorder(fail_when=3)
    recorder.gate.clear()
    group = GroupCommit(recorder.run, max_batch=2)
    calls = [asyncio.ensure_future(group.submit(n)) for n in (1, 2, 3, 4, 5)]
    await asyncio.sleep(0)
    recorder.gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[:2] == [10, 20]
    assert results[4] == 50
    assert [str(error) for error in results[2:4]] == ["batch with 3 failed"] * 2


async def test_a_cancelled_caller_leaves_the_others_their_results() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    group = GroupCommit(recorder.run)
    first, second = asyncio.ensure_future(group.submit(1)), asyncio.ensure_future(group.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    recorder.gate.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_wrong_number_of_results_is_an_error_for_every_caller() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    group = GroupCommit(short)
    calls = [asyncio.ensure_future(group.submit(n)) for n in (1, 2)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) and "gave 1 results" in str(r) for r in results)
