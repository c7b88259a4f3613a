"""Account health for people (#15 Operations, O4, O5): GET /mail-accounts/{id} shows `health`
(ok, failing, needs_reconnect, with the reason, the last fetch and send and since when), and
GET /health/accounts?failing_for=… lists the accounts failing longer than that (admin only).
The rules are config_api.health.assessment's; the fetcher's and sender's results are written
here as they write them (fetch_states, outbox_messages); the end-to-end test
(tests/e2e/test_traces_and_health.py) makes a real fetch fail against Dovecot."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from config_api_testing import Api, oauth_world
from mailbridge.common.db.mailstore import FetchState
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.db.tables import MailAccount
from sqlalchemy import update

NOW = datetime.now(UTC)


async def _fetch_state(
    api: Api, account_id: str, status: str, finished: datetime, reason: str | None,
    failing_since: datetime | None = None,
) -> None:  # fmt: skip
    """As the fetcher records it: a failure is failing since it finished, unless told otherwise."""
    if status == "failed" and failing_since is None:
        failing_since = finished
    async with api.running.sessions() as session, session.begin():
        session.add(FetchState(
            account_id=uuid.UUID(account_id), status=status, reason=reason, permanent=status == "failed",
            last_started_at=finished - timedelta(seconds=5), last_finished_at=finished,
            failing_since=failing_since,
        ))  # fmt: skip


async def _outbox(api: Api, account_id: str, status: str, at: datetime, reply: str | None) -> None:
    async with api.running.sessions() as session, session.begin():
        session.add(OutboxMessage(
            account_id=uuid.UUID(account_id), status=status, request={"to": ["x@example.com"]},
            last_reply=reply, updated_at=at, sent_at=at if status == "sent" else None,
        ))  # fmt: skip


async def _needs_reconnect(api: Api, account_id: str, reason: str) -> None:
    async with api.running.sessions() as session, session.begin():
        await session.execute(
            update(MailAccount)
            .where(MailAccount.id == uuid.UUID(account_id))
            .values(oauth_state="needs_reconnect", oauth_reason=reason, version=MailAccount.version + 1)
        )


async def _health(api: Api, account_id: str) -> dict[str, Any]:
    answer = await api.get(f"/mail-accounts/{account_id}")
    assert answer.status_code == 200, answer.text
    health: dict[str, Any] = answer.json()["health"]
    return health


async def test_a_new_account_is_ok_with_no_fetch_or_send_yet(api: Api) -> None:
    world = await oauth_world(api)
    health = await _health(api, world["mine"]["id"])
    assert health == {
        "state": "ok", "reason": None, "failing_since": None,
        "last_fetch": {"status": "never", "finished_at": None, "error": None},
        "last_send": {"status": "never", "at": None, "error": None},
    }  # fmt: skip


async def test_needs_reconnect_outranks_a_failed_fetch_and_names_the_providers_reason(api: Api) -> None:
    world = await oauth_world(api)
    account = world["mine"]["id"]
    await _fetch_state(api, account, "failed", NOW - timedelta(minutes=5), "AUTHENTICATE failed")
    await _needs_reconnect(api, account, "invalid_grant: AADSTS70008 the refresh token has expired")
    health = await _health(api, account)
    assert health["state"] == "needs_reconnect"
    assert "AADSTS70008" in health["reason"]
    assert "AUTHENTICATE failed" in health["reason"]
    assert health["last_fetch"]["status"] == "failed"
    assert health["failing_since"] is not None


async def test_a_failed_send_after_the_last_sent_mail_makes_the_account_fail_since_the_first_failure(
    api: Api,
) -> None:
    world = await oauth_world(api)
    account = world["shared"]["id"]
    await _outbox(api, account, "sent", NOW - timedelta(hours=3), "250 2.0.0 Ok")
    await _outbox(api, account, "failed", NOW - timedelta(hours=2), "550 5.7.1 relaying denied")
    await _outbox(api, account, "failed", NOW - timedelta(hours=1), "554 5.7.1 rejected")
    health = await _health(api, account)
    assert (health["state"], health["last_send"]["status"]) == ("failing", "failed")
    assert health["last_send"]["error"] == "554 5.7.1 rejected"
    assert "554 5.7.1 rejected" in health["reason"]
    assert datetime.fromisoformat(health["failing_since"]) == NOW - timedelta(hours=2)

    await _outbox(api, account, "sent", NOW - timedelta(minutes=1), "250 2.0.0 Ok")
    health = await _health(api, account)
    assert (health["state"], health["last_send"]["status"], health["failing_since"]) == ("ok", "sent", None)


async def test_a_partial_fetch_is_not_failing(api: Api) -> None:
    world = await oauth_world(api)
    await _fetch_state(api, world["mine"]["id"], "partial", NOW, None)
    health = await _health(api, world["mine"]["id"])
    assert (health["state"], health["last_fetch"]["status"]) == ("ok", "partial")


async def test_the_failing_list_keeps_the_accounts_failing_longer_than_failing_for(api: Api) -> None:
    world = await oauth_world(api)
    mine, shared = world["mine"]["id"], world["shared"]["id"]
    await _fetch_state(api, mine, "failed", NOW - timedelta(hours=2), "LOGIN refused")
    await _fetch_state(api, shared, "failed", NOW - timedelta(minutes=10), "connection refused")

    async def listed(failing_for: str) -> list[str]:
        answer = await api.get("/health/accounts", failing_for=failing_for)
        assert answer.status_code == 200, answer.text
        return [item["account_id"] for item in answer.json()["items"]]

    assert await listed("PT1H") == [mine]
    assert await listed("3600") == [mine]  # seconds
    assert await listed("PT5M") == [mine, shared]  # the longest failing first
    assert await listed("PT3H") == []
    item = (await api.get("/health/accounts", failing_for="PT1H")).json()["items"][0]
    assert item["health"]["reason"] == "last fetch failed: LOGIN refused"
    assert item["address"] == world["mine"]["address"]

    assert (await api.get("/health/accounts", failing_for="an hour")).status_code == 422
    assert (await world["ann"].get("/health/accounts")).status_code == 403


async def test_fetching_fails_since_it_turned_failing_not_since_its_latest_retry(api: Api) -> None:
    """#15: a transient failure retried since keeps `fetch_states.failing_since`, the first failed
    fetch in a row: health and the failing list count from there, not from the latest attempt."""
    world = await oauth_world(api)
    mine = world["mine"]["id"]
    first = NOW - timedelta(hours=3)
    await _fetch_state(api, mine, "failed", NOW - timedelta(minutes=5), "connection refused", first)
    health = await _health(api, mine)
    assert health["state"] == "failing"
    assert datetime.fromisoformat(health["failing_since"]) == first
    assert datetime.fromisoformat(health["last_fetch"]["finished_at"]) == NOW - timedelta(minutes=5)
    answer = await api.get("/health/accounts", failing_for="PT2H")
    assert [item["account_id"] for item in answer.json()["items"]] == [mine]
    assert (await api.get("/health/accounts", failing_for="PT4H")).json()["items"] == []
