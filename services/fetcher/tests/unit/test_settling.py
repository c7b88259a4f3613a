"""How the fetcher's outcomes settle their command (`subscribers.settling`): finished ones are
acked, a retry comes again after the queue's backoff for its delivery, a busy account after a
fixed short delay."""

import pytest
from mailbridge.common.consumers import CHANGES_QUEUE, FETCH_QUEUE
from mailbridge.common.work_queue import Settle
from mailbridge.fetcher.fetch_account import Outcome, Result
from mailbridge.fetcher.subscribers import BUSY_DELAY_S, settling


@pytest.mark.parametrize("outcome", [Outcome.DONE, Outcome.SKIPPED])
def test_a_finished_command_is_acked(outcome: Outcome) -> None:
    assert settling(Result(outcome), 3, FETCH_QUEUE.backoff) == (Settle.ACK, 0.0)


def test_a_retry_comes_again_after_the_backoff_for_its_delivery() -> None:
    delays = [settling(Result(Outcome.RETRY), n, FETCH_QUEUE.backoff) for n in (1, 2, 3, 20)]
    assert delays == [(Settle.RETRY, 5.0), (Settle.RETRY, 10.0), (Settle.RETRY, 20.0), (Settle.RETRY, 900.0)]


def test_a_busy_account_is_looked_at_again_soon_whatever_the_delivery() -> None:
    assert settling(Result(Outcome.BUSY), 7, CHANGES_QUEUE.backoff) == (Settle.RETRY, BUSY_DELAY_S)
