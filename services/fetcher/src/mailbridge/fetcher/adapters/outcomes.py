"""The outcome of an account's last fetch in SQL (`fetch_states`), written by one upsert of the
outcome's columns: a failure names no counts, so it leaves the last success's counts alone."""

from collections.abc import Mapping
from functools import cache
from typing import Any, cast

from mailbridge.common.db.mailstore import FetchState
from mailbridge.fetcher.adapters import leases
from mailbridge.fetcher.adapters.dialects import by_dialect
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


def columns(outcome: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(outcome))


def bound_values(outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {f"o_{name}": value for name, value in outcome.items()}
