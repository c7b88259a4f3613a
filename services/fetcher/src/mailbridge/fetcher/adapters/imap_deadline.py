"""Deadlines for IMAP steps that no lock inside the client library can hold up (#10 item 1).

`asyncio.wait_for` alone is not enough with aioimaplib: cancelling a task that waits on the
protocol's `state_condition` needs that lock back, and a step stuck while holding it never
gives it back. So a step's deadline first aborts the connection (`abort(reason)`: every command
waiting on it fails at once, and locks are released on the way out), and only a moment later
cancels the step as a backstop, for what the connection cannot wake (a TCP connect, a TLS
handshake). Either way the step ends with `ImapAborted` and the reason, within its deadline
plus `GRACE_S`.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from mailbridge.fetcher.adapters.imap_protocol import ImapAborted

GRACE_S = 1.0
MIN_BODY_RATE = 512 * 1024  # bytes per second a body FETCH is allowed beyond its base deadline


def body_deadline_s(base_s: float, expected_bytes: int) -> float:
    """A body FETCH may take longer than a short command, in proportion to the bytes it brings."""
    return base_s + expected_bytes / MIN_BODY_RATE


@asynccontextmanager
async def deadline(seconds: float, abort: Callable[[str], None], what: str) -> AsyncIterator[None]:
    """Run the block for at most `seconds` (plus the grace for the backstop)."""
    reason = f"no answer to {what} within {seconds:g} s"
    watchdog = asyncio.get_running_loop().call_later(seconds, abort, reason)
    try:
        async with asyncio.timeout(seconds + GRACE_S):
            yield
    except TimeoutError as error:
        abort(reason)
        raise ImapAborted(reason) from error
    finally:
        watchdog.cancel()
