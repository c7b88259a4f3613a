"""An account's state for people and dashboards, one rule for both: config-api's account health
(`GET /api/v1/mail-accounts/{id}` `health.state`, `/health/accounts`) and the
`mailbridge_accounts{state}` gauge read the stored results through these functions.

- *needs_reconnect* (O4): the account's server uses OAuth and the broker marked the grant gone;
  it outranks failing, since no fetch or send can succeed before a person connects it again.
- *failing*: its last fetch failed (`fetch_states.status`; a partial fetch, where single messages
  failed, is not), or its newest finished outbox mail (`sent` or `failed`; mail still being
  tried does not count) failed.
- *ok* otherwise.
"""

import uuid
from enum import StrEnum

from mailbridge.common.db.outbox import OutboxMessage
from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import InstrumentedAttribute

FINISHED_SENDS = ("sent", "failed")  # the outbox states a send ends in


class AccountState(StrEnum):
    OK = "ok"
    FAILING = "failing"
    NEEDS_RECONNECT = "needs_reconnect"


def needs_reconnect(uses_oauth: bool, oauth_state: str | None) -> bool:
    """O4: the broker marked the grant of an OAuth account gone."""
    return uses_oauth and oauth_state == "needs_reconnect"


def account_state(
    *, needs_reconnect: bool, fetch_status: str | None, send_status: str | None
) -> AccountState:
    """The state from the account's last fetch status (None: never fetched) and its newest
    finished send's status (None: none finished)."""
    if needs_reconnect:
        return AccountState.NEEDS_RECONNECT
    if fetch_status == "failed" or send_status == "failed":
        return AccountState.FAILING
    return AccountState.OK


def newest_finished_send_status(account_id: InstrumentedAttribute[uuid.UUID]) -> ScalarSelect[str]:
    """The status of the account's newest finished outbox mail, as a correlated subquery (NULL
    when none finished) for a query over accounts."""
    return (
        select(OutboxMessage.status)
        .where(OutboxMessage.account_id == account_id, OutboxMessage.status.in_(FINISHED_SENDS))
        .order_by(OutboxMessage.updated_at.desc())
        .limit(1)
        .scalar_subquery()
    )
