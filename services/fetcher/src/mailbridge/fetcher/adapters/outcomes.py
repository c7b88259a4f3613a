"""The outcome of an account's last fetch in SQL (`fetch_states`), written by one upsert of the
outcome's columns: a failure names no counts, so it leaves the last success's counts alone.

`failing_since` (#15, account health) is when fetching turned failing: a failure sets it to its
finish time unless an earlier failure in a row already did, a success (ok or partial) clears it;
decided inside the upsert, so concurrent writers need no read first."""

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from mailbridge.common.db.mailstore import FetchState
from mailbridge.fetcher.adapters import leases
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.fetch_record import Counts, FetchRecord, FetchStatus
from sqlalchemy import Table, bindparam, case, func
from sqlalchemy.sql.dml import Insert

_STATE = cast(Table, FetchState.__table__)


@cache
def record(columns: tuple[str, ...]) -> Mapping[str, Insert]:
    """The upsert of an outcome of these columns (sorted), per dialect; the account is `p_account`."""
    bound = {name: bindparam(f"o_{name}", type_=_STATE.c[name].type) for name in columns}
    return by_dialect(
        lambda insert: (
            statement := insert(_STATE).values(account_id=leases.ACCOUNT, **bound)
        ).on_conflict_do_update(
            index_elements=[_STATE.c.account_id],
            set_={name: _updated(statement.excluded, name) for name in columns},
        )
    )


def _updated(excluded: Any, name: str) -> Any:
    """The value a column takes when the account has a row already: the new one, but for
    `failing_since`, kept from the first of consecutive failures."""
    if name != "failing_since":
        return excluded[name]
    return case(
        (
            excluded.status == FetchStatus.FAILED.value,
            func.coalesce(_STATE.c.failing_since, excluded.failing_since),
        ),
        else_=None,
    )


def values(record: FetchRecord) -> dict[str, Any]:
    """The record as `fetch_states` columns: `counts` as its JSON object (keys in this order)."""
    row: dict[str, Any] = {
        "status": record.status.value, "reason": record.reason, "permanent": record.permanent,
        "config_version": record.config_version, "last_started_at": record.last_started_at,
        "last_finished_at": record.last_finished_at,
        "failing_since": record.last_finished_at if record.status is FetchStatus.FAILED else None,
        "certificate_sha256": record.certificate,
    }  # fmt: skip
    if record.counts is not None:
        row["new_messages"] = record.counts.new
        row["counts"] = _counts_json(record.counts)
    return row


def _counts_json(counts: Counts) -> dict[str, Any]:
    return {
        "flags_changed": counts.flags_changed, "deleted_on_server": counts.deleted_on_server,
        "on_server": counts.folders, "skipped": counts.skipped, "failed": counts.failed,
    }  # fmt: skip


def columns(outcome: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(outcome))


def bound_values(outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {f"o_{name}": value for name, value in outcome.items()}
