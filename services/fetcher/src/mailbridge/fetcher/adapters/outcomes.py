"""The outcome of an account's last fetch in SQL (`fetch_states`), written by one upsert of the
outcome's columns: a failure names no counts, so it leaves the last success's counts alone."""

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from mailbridge.common.db.mailstore import FetchState
from mailbridge.fetcher.adapters import leases
from mailbridge.fetcher.adapters.dialects import by_dialect
from mailbridge.fetcher.fetch_record import Counts, FetchRecord
from sqlalchemy import Table, bindparam
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
            index_elements=[_STATE.c.account_id], set_={name: statement.excluded[name] for name in columns}
        )
    )


def values(record: FetchRecord) -> dict[str, Any]:
    """The record as `fetch_states` columns: `counts` as its JSON object (keys in this order)."""
    row: dict[str, Any] = {
        "status": record.status.value, "reason": record.reason, "permanent": record.permanent,
        "config_version": record.config_version, "last_started_at": record.last_started_at,
        "last_finished_at": record.last_finished_at,
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
