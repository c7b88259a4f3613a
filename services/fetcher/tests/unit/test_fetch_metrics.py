"""#15 metrics: one fetch's outcome label (mailbridge_fetches_total) as its fetch state records
it, and the messages it stored."""

from mailbridge.common.metrics import FETCHES, MESSAGES_STORED
from mailbridge.fetcher.fetch_account import Outcome, Result
from mailbridge.fetcher.fetch_record import Counts
from mailbridge.fetcher.subscribers import count_fetch, fetch_label


def test_fetch_labels() -> None:
    assert fetch_label(Result(Outcome.DONE, None, Counts(new=2))) == "ok"
    partial = Counts(failed=[{"folder": "INBOX", "uid": 3, "size": 10, "reason": "stand-in"}])
    assert fetch_label(Result(Outcome.DONE, "1 message(s) not fetched", partial)) == "partial"
    assert fetch_label(Result(Outcome.DONE, "authentication failed")) == "failed"  # permanent, acked
    assert fetch_label(Result(Outcome.RETRY, "connection refused")) == "retry"
    assert fetch_label(Result(Outcome.BUSY, "leased")) == "busy"
    assert fetch_label(Result(Outcome.SKIPPED, "may not receive")) == "skipped"


def test_one_fetch_counts_once_with_its_new_messages() -> None:
    fetches, stored = FETCHES.labels("ok")._value.get(), MESSAGES_STORED._value.get()
    count_fetch(Result(Outcome.DONE, None, Counts(new=5)), 0.2)
    assert (FETCHES.labels("ok")._value.get() - fetches, MESSAGES_STORED._value.get() - stored) == (1, 5)
