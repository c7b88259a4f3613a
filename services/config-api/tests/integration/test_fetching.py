"""Manual fetch (G4), reload (G5), the schedule (G2, A10) and the fetch state, against real NATS."""

from datetime import UTC, datetime
from typing import Any

from config_api_testing import Api, account_body, imap_server_body
from mailbridge.common.events import FetchReason, FetchRequested
from mailbridge.common.streams import FETCH
from mailbridge.config_api.deps import AppContext
from mailbridge.config_api.fetching.scheduler import publish_slot


def _context(api: Api) -> AppContext:
    context: AppContext = api.running.app.state.context
    return context


async def _queued(api: Api, seq: int) -> FetchRequested:
    js = _context(api).broker.connection.jetstream()
    stored = await js.get_msg(FETCH.name, seq)
    assert stored.data is not None
    return FetchRequested.model_validate_json(stored.data)


async def _last_seq(api: Api) -> int:
    info = await _context(api).broker.connection.jetstream().stream_info(FETCH.name)
    return int(info.state.last_seq)


async def _world(api: Api) -> dict[str, Any]:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    mine = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    other = await api.create(
        "/mail-accounts", account_body(server["id"], "user", bob["id"], "bob@example.com")
    )
    return {"ann": ann, "mine": mine, "other": other, "ann_key": await api.user_key(ann["id"])}


async def test_manual_fetch_queues_a_command(api: Api) -> None:
    world = await _world(api)
    response = await world["ann_key"].post(f"/mail-accounts/{world['mine']['id']}/fetch")
    assert response.status_code == 202, response.text
    queued = await _queued(api, await _last_seq(api))
    assert str(queued.account_id) == world["mine"]["id"]
    assert queued.reason is FetchReason.MANUAL
    assert queued.requested_by == f"user:{world['ann']['id']}"
    assert (await world["ann_key"].post(f"/mail-accounts/{world['other']['id']}/fetch")).status_code == 404


async def test_g4_no_manual_fetch_while_a_schedule_exists(api: Api) -> None:
    world = await _world(api)
    path = f"/mail-accounts/{world['mine']['id']}/fetch"
    await api.patch("/settings/mail", {"disallow_manual_fetch": True})
    before = await _last_seq(api)
    assert (await world["ann_key"].post(path)).status_code == 403
    assert await _last_seq(api) == before
    assert (await api.post(path)).status_code == 202, "admins may always fetch"
    await api.patch("/settings/mail", {"fetch_interval_minutes": None})
    assert (await world["ann_key"].post(path)).status_code == 202, "without a schedule users may fetch"


async def test_g5_reload_needs_users_can_reload(api: Api) -> None:
    world = await _world(api)
    path = f"/mail-accounts/{world['mine']['id']}/fetch?reload=true"
    assert (await world["ann_key"].post(path)).status_code == 403
    await api.patch("/settings/mail", {"users_can_reload": True})
    assert (await world["ann_key"].post(path)).status_code == 202
    assert (await _queued(api, await _last_seq(api))).reason is FetchReason.RELOAD


async def test_a10_account_that_may_not_receive_is_not_fetched(api: Api) -> None:
    world = await _world(api)
    account_id = world["mine"]["id"]
    await api.patch(f"/mail-accounts/{account_id}", {"can_receive": False})
    assert (await api.post(f"/mail-accounts/{account_id}/fetch")).status_code == 409


async def test_g2_one_command_per_receiving_account_and_slot(api: Api) -> None:
    world = await _world(api)
    await api.patch(f"/mail-accounts/{world['other']['id']}", {"can_receive": False})
    context = _context(api)
    now = datetime.now(UTC)
    before = await _last_seq(api)
    slot, new = await publish_slot(context.sessions, context.broker, 5, now)
    assert slot is not None
    assert new == 1
    again = await publish_slot(context.sessions, context.broker, 5, now)
    assert again == (slot, 0), "a second replica publishing the same slot adds nothing"
    assert await _last_seq(api) == before + 1
    queued = await _queued(api, before + 1)
    assert (str(queued.account_id), queued.reason) == (world["mine"]["id"], FetchReason.SCHEDULED)
    await api.patch("/settings/mail", {"fetch_interval_minutes": None})
    assert await publish_slot(context.sessions, context.broker, 5, now) == (None, 0)


async def test_fetch_state_before_any_fetch(api: Api) -> None:
    world = await _world(api)
    state = (await api.get(f"/mail-accounts/{world['mine']['id']}/fetch-state")).json()
    assert (state["status"], state["new_messages"]) == ("never", 0)
