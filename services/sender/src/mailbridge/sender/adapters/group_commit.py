"""Group commit: many concurrent callers, one database transaction per batch.

Each caller awaits `submit(item)` as if it ran alone. Items that arrive while a batch is being
run wait for the next one, so under load every transaction carries many items and at rest each
item runs at once (no timer, no added latency). A failing batch fails each of its callers with
the batch's exception; the next batch is tried afresh.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self, run: Callable[[list[Item]], Awaitable[Sequence[Result]]], max_batch: int = 256
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run, self._max_batch = run, max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                results = await self._run([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
            except Exception as error:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            except BaseException as error:  # cancelled: the callers must not wait forever
                for _, future in batch + self._pending:
                    if not future.done():
                        future.cancel(f"group commit stopped: {error!r}")
                self._pending.clear()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # a caller that was cancelled meanwhile
                    future.set_result(result)
