"""What the stored results say about an account: ok, failing or needs_reconnect, and since when.

The state is `common.account_state`'s rule, the one the `mailbridge_accounts` gauge counts by:
*failing* when its last fetch failed (`fetch_states.status = "failed"`; a partial fetch, where
single messages failed, is not), or its last finished send failed (the newest outbox mail that
ended `sent` or `failed` ended `failed`; mail still being tried is not counted); *needs
reconnecting* when its server uses OAuth and the broker marked the grant gone
(`mail_accounts.oauth_state`, with the provider's reason), which outranks failing. This module
adds the reasons and since when.

`failing_since` is the earliest failure on record among those that hold: for sending, the first
mail that failed after the last one sent; for fetching, when fetching turned failing
(`fetch_states.failing_since`: the first failed fetch since the last success, kept while
fetches keep failing); for needs_reconnect, the account's last change (the broker's marking is
one).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from mailbridge.common.account_state import FINISHED_SENDS, account_state, needs_reconnect
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount
from mailbridge.config_api.health.schemas import AccountHealth, HealthState, LastFetch, LastSend
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class SendRecord:
    """The newest finished outbox mail of an account, and the first failure since the last sent."""

    status: str
    at: datetime | None
    error: str | None
    first_failure_at: datetime | None


def last_fetch(state: FetchState | None) -> LastFetch:
    if state is None:
        return LastFetch(status="never", finished_at=None, error=None)
    status = state.status if state.status in ("ok", "partial", "failed") else "failed"
    return LastFetch(status=status, finished_at=state.last_finished_at, error=state.reason)


def last_send(record: SendRecord | None) -> LastSend:
    if record is None:
        return LastSend(status="never", at=None, error=None)
    return LastSend(status="sent" if record.status == "sent" else "failed", at=record.at, error=record.error)


def assess(
    fetch: FetchState | None, send: SendRecord | None, needs_reconnect: bool, oauth_reason: str | None,
    changed_at: datetime,
) -> AccountHealth:  # fmt: skip
    """The account's health from its stored results (the rules are in the module docstring)."""
    fetched, sent = last_fetch(fetch), last_send(send)
    reasons: list[str] = []
    since: list[datetime] = []
    if needs_reconnect:
        reasons.append(f"needs reconnecting: {oauth_reason}" if oauth_reason else "needs reconnecting")
        since.append(changed_at)
    if fetched.status == "failed":
        reasons.append(f"last fetch failed: {fetched.error}" if fetched.error else "last fetch failed")
        # a row failing since before 0013 recorded failing_since has its finish time (the migration)
        first = (fetch.failing_since if fetch is not None else None) or fetched.finished_at
        if first is not None:
            since.append(first)
    if send is not None and sent.status == "failed":
        reasons.append(f"last send failed: {sent.error}" if sent.error else "last send failed")
        if (first := send.first_failure_at or send.at) is not None:
            since.append(first)
    state = account_state(
        needs_reconnect=needs_reconnect,
        fetch_status=fetch.status if fetch is not None else None,
        send_status=send.status if send is not None else None,
    )
    return AccountHealth(
        state=HealthState(state.value), reason="; ".join(reasons) or None, last_fetch=fetched, last_send=sent,
        failing_since=min(since) if since else None,
    )  # fmt: skip


async def send_record(session: AsyncSession, account_id: uuid.UUID) -> SendRecord | None:
    newest = (
        await session.execute(
            select(OutboxMessage.status, OutboxMessage.updated_at, OutboxMessage.last_reply)
            .where(OutboxMessage.account_id == account_id, OutboxMessage.status.in_(FINISHED_SENDS))
            .order_by(OutboxMessage.updated_at.desc())
            .limit(1)
        )
    ).first()
    if newest is None:
        return None
    status, at, reply = newest
    if status != "failed":
        return SendRecord(status, at, None, None)
    last_sent = (
        select(func.max(OutboxMessage.updated_at))
        .where(OutboxMessage.account_id == account_id, OutboxMessage.status == "sent")
        .scalar_subquery()
    )
    first_failure = await session.scalar(
        select(func.min(OutboxMessage.updated_at)).where(
            OutboxMessage.account_id == account_id,
            OutboxMessage.status == "failed",
            func.coalesce(OutboxMessage.updated_at > last_sent, True),
        )
    )
    return SendRecord(status, at, reply, first_failure)


async def account_health(session: AsyncSession, account: MailAccount, uses_oauth: bool) -> AccountHealth:
    fetch = await session.get(FetchState, account.id)
    reconnect = needs_reconnect(uses_oauth, account.oauth_state)
    return assess(fetch, await send_record(session, account.id), reconnect, account.oauth_reason,
                  account.updated_at)  # fmt: skip
