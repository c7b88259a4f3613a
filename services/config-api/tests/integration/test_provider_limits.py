"""#17: a mail server's provider limits in the API (a preset, each limit overridable, what is in
force shown as `effective_limits`), and an outbox item's retry schedule and give-up."""

import uuid
from datetime import UTC, datetime

from config_api_testing import MAIL, Api, imap_server_body, outbox_world
from mailbridge.common.db.outbox import OutboxMessage

NONE = dict.fromkeys(
    (
        "smtp_connections_per_login", "imap_connections_per_login", "messages_per_minute_per_mailbox",
        "messages_per_day_per_mailbox", "recipients_per_day_per_mailbox", "messages_per_minute_per_server",
    )
)  # fmt: skip


async def test_a_server_without_a_preset_has_no_limits(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body())
    assert server["limits_preset"] is None
    assert server["effective_limits"] == NONE


async def test_the_microsoft365_preset_with_the_servers_own_values(api: Api) -> None:
    body = imap_server_body(limits_preset="microsoft365", messages_per_minute_per_mailbox=10)
    server = await api.create("/mail-servers", body)
    assert server["messages_per_minute_per_mailbox"] == 10
    assert server["smtp_connections_per_login"] is None  # not set: the preset's
    assert server["effective_limits"] == NONE | {
        "smtp_connections_per_login": 3, "imap_connections_per_login": 20,
        "messages_per_minute_per_mailbox": 10, "recipients_per_day_per_mailbox": 10_000,
    }  # fmt: skip
    path = f"/mail-servers/{server['id']}"
    changed = await api.patch(path, {"limits_preset": "gmail", "messages_per_minute_per_server": 100},
                              {"If-Match": '"1"'})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["effective_limits"] == NONE | {
        "imap_connections_per_login": 15, "messages_per_minute_per_mailbox": 10,
        "messages_per_day_per_mailbox": 2_000, "recipients_per_day_per_mailbox": 10_000,
        "messages_per_minute_per_server": 100,
    }  # fmt: skip


async def test_an_unknown_preset_or_a_limit_below_one_is_refused(api: Api) -> None:
    unknown = await api.post("/mail-servers", imap_server_body(limits_preset="yahoo"))
    assert unknown.status_code == 422
    zero = await api.post("/mail-servers", imap_server_body(messages_per_minute_per_mailbox=0))
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["rule"] == "limits"


async def test_the_retry_schedule_and_the_give_up_show_on_the_outbox_item(api: Api) -> None:
    world = await outbox_world(api)
    queued = (await world["ann"].post(f"/mail-accounts/{world['mine']['id']}/messages", MAIL)).json()
    assert (queued["next_attempt_at"], queued["retry_reason"], queued["gave_up_at"]) == (None, None, None)
    due, given_up = datetime(2026, 12, 3, 19, 5, tzinfo=UTC), datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    async with api.running.sessions() as session:  # as the sender records a greylisted attempt
        row = await session.get(OutboxMessage, uuid.UUID(queued["id"]))
        assert row is not None
        row.attempts, row.next_attempt_at, row.retry_reason = 1, due, "greylisted"
        await session.commit()
    item = (await world["ann"].get(f"/outbox/{queued['id']}")).json()
    assert (item["attempts"], item["max_attempts"], item["retry_reason"]) == (1, 8, "greylisted")
    assert datetime.fromisoformat(item["next_attempt_at"]) == due
    async with api.running.sessions() as session:  # and the last one, given up
        row = await session.get(OutboxMessage, uuid.UUID(queued["id"]))
        assert row is not None
        row.status, row.next_attempt_at, row.gave_up_at = "failed", None, given_up
        await session.commit()
    item = (await world["ann"].get(f"/outbox/{queued['id']}")).json()
    assert (item["status"], item["next_attempt_at"]) == ("failed", None)
    assert datetime.fromisoformat(item["gave_up_at"]) == given_up
