"""The mailbox read API over stored messages: paging, filters, raw bytes, G1, ownership."""

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from config_api_testing import Api, account_body, imap_server_body, published_command
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.events import MailboxAction
from mailbridge.common.streams import FETCH
from sqlalchemy import update

RAW = b"From: a@example.com\r\nSubject: Hello\r\n\r\nBody with \xe4 byte\r\n"


async def _store(api: Api, account_id: str, count: int, seen_every: int = 2) -> list[str]:
    ids = []
    async with api.running.sessions() as session:
        for uid in range(1, count + 1):
            message = StoredMessage(
                account_id=uuid.UUID(account_id), folder="INBOX", uidvalidity=1, uid=uid,
                sha256=hashlib.sha256(RAW).hexdigest(), size=len(RAW), raw=RAW, subject=f"m{uid}",
                seen=uid % seen_every == 0, flags=["\\Seen"] if uid % seen_every == 0 else [],
            )  # fmt: skip
            session.add(message)
            await session.flush()
            ids.append(str(message.id))
        await session.commit()
    return ids


async def _world(api: Api) -> dict[str, Any]:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    mine = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    return {"mine": mine, "ann": await api.user_key(ann["id"]), "bob": await api.user_key(bob["id"])}


async def test_list_pages_and_filters(api: Api) -> None:
    world = await _world(api)
    ids = await _store(api, world["mine"]["id"], 5)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    first = (await world["ann"].get(path, limit=3)).json()
    second = (await world["ann"].get(path, limit=3, cursor=first["next_cursor"])).json()
    assert [m["id"] for m in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None
    unread = (await world["ann"].get(path, unread="true")).json()["items"]
    assert [m["subject"] for m in unread] == ["m1", "m3", "m5"]
    assert (await world["ann"].get(path, folder="Other")).json()["items"] == []


async def test_newest_first_pages_backwards_and_search_matches_sender_or_subject(api: Api) -> None:
    """#16's mailbox view: the newest fetched message first, paged; a search over sender and
    subject, any case, with LIKE's wildcards taken literally."""
    world = await _world(api)
    ids = await _store(api, world["mine"]["id"], 5)
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    first = (await world["ann"].get(path, limit=3, newest_first="true")).json()
    second = (await world["ann"].get(path, limit=3, newest_first="true", cursor=first["next_cursor"])).json()
    assert [m["id"] for m in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert [m["subject"] for m in (await world["ann"].get(path, search="M3")).json()["items"]] == ["m3"]
    by_sender = (await world["ann"].get(path, search="A@EXAMPLE")).json()["items"]
    assert by_sender == []  # _store leaves from_address empty: the sender is matched, not the raw
    async with api.running.sessions() as session:
        await session.execute(
            update(StoredMessage)
            .where(StoredMessage.id == uuid.UUID(ids[1]))
            .values(from_address="Buyer@Shop.example")
        )
        await session.commit()
    found = (await world["ann"].get(path, search="buyer@shop")).json()["items"]
    assert [m["id"] for m in found] == [ids[1]]
    assert (await world["ann"].get(path, search="m_")).json()["items"] == []  # "_" is no wildcard
    assert (await world["ann"].get(path, search="%")).json()["items"] == []


async def test_raw_bytes_are_exact(api: Api) -> None:
    world = await _world(api)
    [message_id] = await _store(api, world["mine"]["id"], 1)
    raw = await world["ann"].get(f"/messages/{message_id}/raw")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "message/rfc822"
    assert raw.content == RAW
    summary = (await world["ann"].get(f"/messages/{message_id}")).json()
    assert (summary["subject"], summary["size"]) == ("m1", len(RAW))


async def test_other_users_messages_are_404(api: Api) -> None:
    world = await _world(api)
    [message_id] = await _store(api, world["mine"]["id"], 1)
    assert (await world["bob"].get(f"/messages/{message_id}")).status_code == 404
    assert (await world["bob"].get(f"/messages/{message_id}/raw")).status_code == 404
    assert (await world["bob"].get(f"/mail-accounts/{world['mine']['id']}/messages")).status_code == 404


async def test_g1_hidden_mailbox_is_403_for_users_only(api: Api) -> None:
    world = await _world(api)
    [message_id] = await _store(api, world["mine"]["id"], 1)
    await api.patch("/settings/mail", {"hide_mailbox": True})
    for path in (f"/messages/{message_id}", f"/mail-accounts/{world['mine']['id']}/messages"):
        assert (await world["ann"].get(path)).status_code == 403
        assert (await api.get(path)).status_code == 200


async def test_marking_read_updates_the_store_and_queues_the_server_change(api: Api) -> None:
    world = await _world(api)
    [message_id] = await _store(api, world["mine"]["id"], 1)
    context = api.running.app.state.context
    js = context.broker.connection.jetstream()
    before = (await js.stream_info(FETCH.name)).state.last_seq
    changed = await world["ann"].patch(f"/messages/{message_id}", {"seen": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["seen"], changed.json()["flags"]) == (True, ["\\Seen"])
    command = await published_command(js, before + 1)
    assert (str(command.message_id), command.action) == (message_id, MailboxAction.MARK_SEEN)
    moved = await world["ann"].post(f"/messages/{message_id}/move", {"to": "spam"})
    assert moved.status_code == 202
    assert moved.json()["action"] == "move_to_spam"
    command = await published_command(js, before + 2)
    assert (str(command.message_id), command.action) == (message_id, MailboxAction.MOVE_TO_SPAM)
    assert (await world["bob"].patch(f"/messages/{message_id}", {"seen": False})).status_code == 404


async def test_pop3_messages_cannot_move(api: Api) -> None:
    server = await api.create("/mail-servers", imap_server_body("POP", incoming_protocol="pop3"))
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    account = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    [message_id] = await _store(api, account["id"], 1)
    assert (await api.post(f"/messages/{message_id}/move", {"to": "trash"})).status_code == 409
    assert (await api.patch(f"/messages/{message_id}", {"seen": True})).json()["seen"] is True


async def test_messages_removed_on_the_server_are_left_out_of_lists_unless_asked_for(api: Api) -> None:
    """S7: a message deleted on the server by another client is gone from the account's list, as
    its user expects; `include_removed=true` brings it back, and it stays readable by its id."""
    world = await _world(api)
    ids = await _store(api, world["mine"]["id"], 3)
    removed_at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    async with api.running.sessions() as session:
        await session.execute(
            update(StoredMessage)
            .where(StoredMessage.id == uuid.UUID(ids[1]))
            .values(removed_on_server_at=removed_at)
        )
        await session.commit()
    path = f"/mail-accounts/{world['mine']['id']}/messages"
    listed = (await world["ann"].get(path)).json()["items"]
    assert [m["id"] for m in listed] == [ids[0], ids[2]]
    assert [m["removed_on_server_at"] for m in listed] == [None, None]
    everything = (await world["ann"].get(path, include_removed="true")).json()["items"]
    assert [m["id"] for m in everything] == ids
    assert everything[1]["removed_on_server_at"] == "2026-12-03T12:00:00Z"
    one = (await world["ann"].get(f"/messages/{ids[1]}")).json()
    assert one["removed_on_server_at"] == "2026-12-03T12:00:00Z"
    assert (await world["ann"].get(f"/messages/{ids[1]}/raw")).content == RAW, "the bytes stay"
    assert (await world["ann"].post(f"/messages/{ids[1]}/move", {"to": "trash"})).status_code == 409
    marked = await world["ann"].patch(f"/messages/{ids[1]}", {"seen": True})
    assert (marked.status_code, marked.json()["seen"]) == (200, True), "read/unread stays local"
