"""A budget shared by a process's concurrent work: bytes in memory, connections to one server.

`Budget(limit)` is a weighted semaphore. `async with budget.hold(n)` waits until `n` more units
fit under the limit, and gives them back on leaving. Waiters are served strictly in the order
they asked: a large request at the head is not overtaken by small ones behind it, so it cannot
starve. A request larger than the whole limit is served when nothing else is held, and then
holds the budget alone (a 60 MB message under a 50 MB budget is fetched, just never beside
another). The limit can change while the budget is in use (a server turns out to allow fewer
connections): holders keep what they have, and new requests wait until they fit the new limit.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Budget:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a budget needs a limit of at least 1, not {limit}")
        self.limit = limit
        self.held = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        await self.acquire(amount)
        try:
            yield
        finally:
            self.release(amount)

    async def acquire(self, amount: int) -> None:
        if amount < 0:
            raise ValueError(f"cannot hold a negative amount ({amount})")
        if not self._waiting and self._fits(amount):
            self.held += amount
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append((amount, turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # served, then cancelled: give it back
                self.release(amount)
            else:
                if (amount, turn) in self._waiting:
                    self._waiting.remove((amount, turn))
                self._serve()  # a large waiter leaving may let smaller ones behind it in
            raise

    def release(self, amount: int) -> None:
        self.held -= amount
        self._serve()

    def set_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a budget needs a limit of at least 1, not {limit}")
        self.limit = limit
        self._serve()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _fits(self, amount: int) -> bool:
        return self.held + amount <= self.limit or self.held == 0

    def _serve(self) -> None:
        while self._waiting:
            amount, turn = self._waiting[0]
            if turn.done():  # cancelled while its removal is pending
                self._waiting.popleft()
                continue
            if not self._fits(amount):
                return
            self._waiting.popleft()
            self.held += amount
            turn.set_result(None)
