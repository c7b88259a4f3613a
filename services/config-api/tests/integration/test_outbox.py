"""The outbox API: queueing mail (A8, Idempotency-Key, validation), the G3 view, changes while
queued, the G6 lock and the hash-chain verifier."""

import asyncio
import base64
import uuid

import pytest
from config_api_testing import MAIL, Api, outbox_world, rules
from mailbridge.common.db.outbox import OutboxMessage
from mailbridge.common.events import SendRequested
from mailbridge.common.messaging import MSG_ID_HEADER
from mailbridge.common.outbox_chain import GENESIS, row_seal
from mailbridge.common.outbox_checkpoints import checkpoint
from mailbridge.common.seal_keys import SealKeys
from mailbridge.common.streams import SEND
from mailbridge.testkit.sealed_outbox import SENT_AT, publish_checkpoints, sealed_row, write_as_attacker
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError


async def test_queueing_publishes_send_requested(api: Api) -> None:
    """Through the transactional outbox: committed with the row, published by config-api's relay
    (woken by the request) under the outbox id as its message id."""
    world = await outbox_world(api)
    js = api.running.app.state.context.broker.connection.jetstream()
    before = (await js.stream_info(SEND.name)).state.last_seq
    body = MAIL | {"attachments": [{"filename": "a.txt", "content_type": "text/plain",
                                    "content_base64": base64.b64encode(b"data").decode()}]}  # fmt: skip
    queued = await world["ann"].post(f"/mail-accounts/{world['mine']['id']}/messages", body)
    assert queued.status_code == 202, queued.text
    assert (queued.json()["status"], queued.json()["attempts"]) == ("queued", 0)
    async with asyncio.timeout(10):
        while (await js.stream_info(SEND.name)).state.last_seq == before:  # noqa: ASYNC110 - JetStream, polled
            await asyncio.sleep(0.01)
    stored = await js.get_msg(SEND.name, before + 1)
    assert stored.data is not None
    assert stored.headers is not None
    assert str(SendRequested.model_validate_json(stored.data).outbox_id) == queued.json()["id"]
    assert stored.headers[MSG_ID_HEADER] == queued.json()["id"]


async def test_idempotency_key_returns_the_same_row(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    first = await world["ann"].post(path, MAIL, {"Idempotency-Key": "k-1"})
    again = await world["ann"].post(
        path, dict(reversed(MAIL.items())) | {"cc": []}, {"Idempotency-Key": "k-1"}
    )
    assert first.json()["id"] == again.json()["id"], "the same mail, however its JSON is spelt"
    other = await world["ann"].post(path, MAIL, {"Idempotency-Key": "k-2"})
    assert other.json()["id"] != first.json()["id"]


async def test_idempotency_key_with_another_mail_is_refused(api: Api) -> None:
    """#17: as payment APIs answer a reused key: 422 naming the conflict, nothing queued; the
    same key with the same mail still returns the first."""
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    first = await world["ann"].post(path, MAIL, {"Idempotency-Key": "k-1"})
    changed = await world["ann"].post(path, MAIL | {"subject": "other"}, {"Idempotency-Key": "k-1"})
    assert rules(changed) == {"Idempotency-Key": "idempotency_key_reused"}
    assert "already used for a different mail" in changed.json()["detail"]
    assert first.json()["id"] in changed.json()["detail"]
    again = await world["ann"].post(path, MAIL, {"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()["id"]) == (202, first.json()["id"])
    async with api.running.sessions() as session:
        assert len(list(await session.scalars(select(OutboxMessage.id)))) == 1


async def test_a8_and_validation(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    assert rules(await world["ann"].post(path, MAIL | {"to": ["ok@example.org", "broken"]})) == {
        "to.1": "address"
    }
    assert rules(await world["ann"].post(path, {"subject": "nobody"})) == {"to": "recipients"}
    assert rules(await world["ann"].post(path, MAIL | {"subject": "a\r\nBcc: x@y.z"})).keys() == {"subject"}
    assert (
        await world["ann"].post(f"/mail-accounts/{world['bobs']['id']}/messages", MAIL)
    ).status_code == 404
    await api.patch(f"/mail-accounts/{world['mine']['id']}", {"can_send": False})
    assert (await world["ann"].post(path, MAIL)).status_code == 403


async def test_g3_outbox_view_shows_own_and_group_mail(api: Api) -> None:
    world = await outbox_world(api)
    await world["ann"].post(f"/mail-accounts/{world['mine']['id']}/messages", MAIL)
    await world["bob"].post(f"/mail-accounts/{world['shared']['id']}/messages", MAIL)
    await world["bob"].post(f"/mail-accounts/{world['bobs']['id']}/messages", MAIL)
    seen = {row["account_id"] for row in (await world["ann"].get("/outbox")).json()["items"]}
    assert seen == {world["mine"]["id"], world["shared"]["id"]}
    assert len((await api.get("/outbox")).json()["items"]) == 3
    filtered = (await api.get("/outbox", account_id=world["bobs"]["id"])).json()["items"]
    assert [row["account_id"] for row in filtered] == [world["bobs"]["id"]]
    await api.patch("/settings/mail", {"show_outbox_folder": False})
    assert (await world["ann"].get("/outbox")).status_code == 403


async def test_the_outbox_lists_newest_first_on_request(api: Api) -> None:
    """#16: the console's outbox shows the newest mail first, paged backwards."""
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    ids = [(await world["ann"].post(path, MAIL | {"subject": f"m{n}"})).json()["id"] for n in range(3)]
    first = (await world["ann"].get("/outbox", newest_first="true", limit=2)).json()
    rest = (
        await world["ann"].get("/outbox", newest_first="true", limit=2, cursor=first["next_cursor"])
    ).json()
    assert [row["id"] for row in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None


async def test_queued_mail_can_change_and_go(api: Api) -> None:
    world = await outbox_world(api)
    row = (await world["ann"].post(f"/mail-accounts/{world['mine']['id']}/messages", MAIL)).json()
    changed = await world["ann"].patch(f"/outbox/{row['id']}", {"subject": "Better"}, {"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["request"]["subject"] == "Better"
    assert (await world["ann"].get(f"/outbox/{row['id']}/raw")).status_code == 404, "not built yet"
    assert (await world["ann"].delete(f"/outbox/{row['id']}")).status_code == 204
    assert (await world["ann"].get(f"/outbox/{row['id']}")).status_code == 404


async def _seal(api: Api, ids: list[str]) -> None:
    """Seal the queued rows as the sender would (G6), and publish the checkpoint of the head."""
    keys: SealKeys = api.running.app.state.seal_keys
    previous = GENESIS
    async with api.running.sessions() as session:
        for seq, outbox_id in enumerate(ids, start=1):
            row = await session.get(OutboxMessage, uuid.UUID(outbox_id))
            assert row is not None
            row.status, row.sent_at, row.message_id_header = "sent", SENT_AT, f"<{outbox_id}@x>"
            row.raw = f"Subject: sealed {seq}\r\n\r\nbody\r\n".encode()
            previous = row_seal(keys, previous, sealed_row(row, seq))
            row.locked, row.chain_seq, row.chain_hash, row.seal_key_id = True, seq, previous, keys.newest_id
        await session.commit()
    js = api.running.app.state.context.broker.connection.jetstream()
    await publish_checkpoints(js, [checkpoint(keys, len(ids), uuid.UUID(ids[-1]), previous)])


async def test_g6_locked_mail_rejects_changes_and_the_verifier_catches_tampering(api: Api) -> None:
    world = await outbox_world(api)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    ids = [(await world["ann"].post(path, MAIL | {"subject": f"m{i}"})).json()["id"] for i in range(3)]
    await _seal(api, ids)
    assert (await api.get("/outbox/verify")).json() == {
        "sealed_rows": 3, "intact": True, "first_altered_id": None, "first_broken_seq": None, "reason": None,
        "checkpoints": 1, "checkpointed_seq": 3, "legacy_rows": 0,
    }  # fmt: skip
    assert (await api.patch(f"/outbox/{ids[1]}", {"subject": "rewritten"})).status_code == 409
    assert (await api.delete(f"/outbox/{ids[1]}")).status_code == 409
    assert (await api.get(f"/outbox/{ids[1]}/raw")).content.startswith(b"Subject: sealed 2")
    forged = update(OutboxMessage).where(OutboxMessage.id == uuid.UUID(ids[1])).values(raw=b"forged")
    async with api.running.sessions() as session:
        with pytest.raises(IntegrityError, match="G6: outbox message is sent and locked"):
            await session.execute(forged)  # the database refuses it too
    await write_as_attacker(api.running.sessions, forged)
    report = (await api.get("/outbox/verify")).json()
    assert (report["intact"], report["first_altered_id"], report["first_broken_seq"]) == (False, ids[1], 2)
    assert (await world["ann"].get("/outbox/verify")).status_code == 403
