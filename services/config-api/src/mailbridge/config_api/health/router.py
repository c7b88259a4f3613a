"""GET /health/accounts?failing_for=…: the accounts that have been failing longer than that (admin)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount, MailServer
from mailbridge.config_api.deps import CtxDep
from mailbridge.config_api.errors import Forbidden
from mailbridge.config_api.health.assessment import account_health
from mailbridge.config_api.health.schemas import FailingAccount, FailingAccounts, HealthState
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from pydantic import BeforeValidator
from sqlalchemy import func, or_, select

router = APIRouter(tags=["health"], responses=PROBLEM_RESPONSES)
MAX_ITEMS = 1000


def _seconds(value: Any) -> Any:
    """A plain number of seconds (`3600`) as well as an ISO 8601 duration (`PT1H`)."""
    if isinstance(value, str) and value.replace(".", "", 1).isdigit():
        return float(value)
    return value


@router.get("/health/accounts", operation_id="list_failing_accounts")
async def failing_accounts(
    ctx: CtxDep,
    failing_for: Annotated[
        timedelta,
        BeforeValidator(_seconds),
        Query(description="ISO 8601 duration (PT1H) or seconds: list accounts failing at least this long"),
    ] = timedelta(0),
    limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100,
) -> FailingAccounts:
    """Accounts failing or needing reconnection since at least `failing_for` ago, the longest
    failing first, each with its reason (the rules: config_api.health.assessment)."""
    if not ctx.principal.is_admin:
        raise Forbidden("the health of all accounts is for admin keys")
    if failing_for < timedelta(0):
        failing_for = timedelta(0)
    cutoff = datetime.now(UTC) - failing_for
    # Candidates only: an account qualifies by a failure at or before the cutoff (its fetching
    # failing since then, or a mail that failed by then); `account_health` decides.
    failed_fetch = select(FetchState.account_id).where(
        FetchState.status == "failed",
        func.coalesce(FetchState.failing_since, FetchState.last_finished_at) <= cutoff,
    )
    failed_send = select(OutboxMessage.account_id).where(
        OutboxMessage.status == "failed", OutboxMessage.updated_at <= cutoff
    )
    candidates = await ctx.session.execute(
        select(MailAccount, MailServer.oauth_provider_id)
        .join(MailServer, MailServer.id == MailAccount.server_id)
        .where(
            or_(
                MailAccount.id.in_(failed_fetch),
                MailAccount.id.in_(failed_send),
                MailAccount.oauth_state == "needs_reconnect",
            )
        )
        .order_by(MailAccount.id)
    )
    items = []
    for account, provider_id in candidates.all():
        health = await account_health(ctx.session, account, provider_id is not None)
        if health.state is not HealthState.OK and health.failing_since and health.failing_since <= cutoff:
            items.append(FailingAccount(account_id=account.id, address=account.address, health=health))
    items.sort(key=lambda item: (item.health.failing_since, str(item.account_id)))
    return FailingAccounts(items=items[:limit])
