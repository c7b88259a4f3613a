"""The recorded outcome of a fetch: typed up to the store, the same columns and JSON as before;
and the account's password in no repr, log line or traceback."""

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from fetcher_testing import ACCOUNT
from mailbridge.fetcher.adapters.imap_connections import LoginKey
from mailbridge.fetcher.adapters.outcomes import values
from mailbridge.fetcher.fetch_record import Counts, FetchStatus, failed, succeeded

STARTED, FINISHED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC), datetime(2026, 12, 3, 12, 1, tzinfo=UTC)
SECRET = "correct horse battery staple"


def test_ok_and_its_columns() -> None:
    counts = Counts(new=3, flags_changed=1, deleted_on_server=2, folders={"INBOX": 5})
    counts.skipped.append({"folder": "INBOX", "uid": 7, "size": 200_000, "reason": "too large"})
    record = succeeded("1.1", STARTED, FINISHED, counts)
    assert (record.status, record.reason) == (FetchStatus.OK, None)
    row = values(record)
    assert row == {
        "status": "ok", "reason": None, "permanent": False, "config_version": "1.1",
        "last_started_at": STARTED, "last_finished_at": FINISHED, "failing_since": None, "new_messages": 3,
        "certificate_sha256": None,
        "counts": {"flags_changed": 1, "deleted_on_server": 2, "on_server": {"INBOX": 5},
                   "skipped": [{"folder": "INBOX", "uid": 7, "size": 200_000, "reason": "too large"}],
                   "failed": []},
    }  # fmt: skip
    assert type(row["status"]) is str
    assert list(row["counts"]) == ["flags_changed", "deleted_on_server", "on_server", "skipped", "failed"]


def test_partial_names_the_first_failure() -> None:
    counts = Counts(new=1)
    counts.failed.append({"folder": "INBOX", "uidl": "u1", "number": 1, "size": 10, "reason": "a stand-in"})
    counts.failed.append({"folder": "INBOX", "uidl": "u2", "number": 2, "size": 10, "reason": "another"})
    record = succeeded("1.1", STARTED, FINISHED, counts)
    assert (record.status, record.reason) == (FetchStatus.PARTIAL, "2 message(s) not fetched: a stand-in")
    assert values(record)["status"] == "partial"


def test_a_failure_names_no_counts() -> None:
    row = values(failed("1.2", STARTED, FINISHED, "wrong password", permanent=True))
    assert row == {
        "status": "failed", "reason": "wrong password", "permanent": True, "config_version": "1.2",
        "last_started_at": STARTED, "last_finished_at": FINISHED,
        "failing_since": FINISHED,  # #15: the upsert keeps an earlier one of the same run of failures
        "certificate_sha256": None,
    }  # fmt: skip


def test_a_certificate_failure_records_the_certificate() -> None:
    """#17: the SHA-256 of the certificate a failed verification met, for `certificate_hold`."""
    record = failed("1.2", STARTED, FINISHED, "not trusted", permanent=True, certificate="ab" * 32)
    assert values(record)["certificate_sha256"] == "ab" * 32


def test_the_password_is_in_no_repr() -> None:
    config = replace(ACCOUNT, password=SECRET)
    assert config.password == SECRET
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert "login='u'" in repr(config)
    key = LoginKey("h", 993, "implicit_tls", "u", "0123abcd")
    assert "0123abcd" not in repr(key)


def test_a_logged_exception_carrying_the_config_does_not_show_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = replace(ACCOUNT, password=SECRET)
    with caplog.at_level(logging.ERROR):
        try:
            raise RuntimeError(f"fetch of {config!r} failed")
        except RuntimeError:
            logging.getLogger("test").exception("fetch failed for %s", config)
    [record] = caplog.records
    assert record.exc_text is not None or record.exc_info is not None
    assert "fetch failed for AccountConfig(" in caplog.text
    assert "Traceback" in caplog.text
    assert SECRET not in caplog.text
