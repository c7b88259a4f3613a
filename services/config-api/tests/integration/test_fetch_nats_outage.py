"""#10 item 2 during a NATS outage, against a private nats-server the test stops and restarts:
a manual fetch answers 503 naming NATS, with a Retry-After, and works again once NATS is back;
a mailbox change (read flag, move) is accepted and its command reaches the fetcher's stream
once NATS is back (it leaves through the transactional outbox)."""

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from config_api_testing import Api, account_body, imap_server_body, published_command, serving
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.events import MailboxAction
from mailbridge.common.nats_embedded import EmbeddedNats, start_embedded_nats
from mailbridge.common.secrets import generate_key
from mailbridge.common.streams import FETCH
from mailbridge.config_api.settings import ConfigApiSettings
from mailbridge.testkit.config_rows import empty_tables


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    nats = await asyncio.to_thread(start_embedded_nats, tmp_path / "jetstream")
    try:
        yield nats
    finally:
        await asyncio.to_thread(nats.stop)


@pytest.fixture
async def api_on_private_nats(
    database_url: str, private_nats: EmbeddedNats, tmp_path: Path
) -> AsyncIterator[Api]:
    settings = ConfigApiSettings(
        database_url=database_url, nats_url=private_nats.url, secret_key=generate_key(),
        var_dir=tmp_path, scheduler_tick_s=0, nats_publish_timeout_s=1.0,
    )  # fmt: skip
    async with serving(settings, before=lambda running: empty_tables(running.sessions)) as api:
        yield api


async def _imap_account(api: Api) -> dict[str, Any]:
    """A user's account on an IMAP server (the server is never reached in these tests)."""
    server = await api.create("/mail-servers", imap_server_body())
    user = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    return await api.create("/mail-accounts", account_body(server["id"], "user", user["id"]))


async def test_manual_fetch_during_a_nats_outage_is_503_with_the_reason(
    api_on_private_nats: Api, private_nats: EmbeddedNats, tmp_path: Path
) -> None:
    api = api_on_private_nats
    account = await _imap_account(api)
    path = f"/mail-accounts/{account['id']}/fetch"
    assert (await api.post(path)).status_code == 202

    await asyncio.to_thread(private_nats.stop)
    refused = await api.post(path)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    problem = refused.json()
    assert problem["title"] == "Service unavailable"
    assert problem["detail"].startswith("NATS is unreachable"), problem["detail"]
    assert "fetch was not queued" in problem["detail"]

    port = int(private_nats.url.rsplit(":", 1)[1])
    restarted = await asyncio.to_thread(start_embedded_nats, tmp_path / "jetstream", port=port)
    try:
        deadline = time.monotonic() + 60
        status = 503
        while status == 503 and time.monotonic() < deadline:
            status = (await api.post(path)).status_code
        assert status == 202, "a manual fetch works again once NATS is back"
    finally:
        await asyncio.to_thread(restarted.stop)


async def test_mailbox_changes_during_a_nats_outage_are_kept_and_queued_once_nats_is_back(
    api_on_private_nats: Api, private_nats: EmbeddedNats, tmp_path: Path
) -> None:
    api = api_on_private_nats
    account = await _imap_account(api)
    async with api.running.sessions() as session:
        raw = b"Subject: hi\r\n\r\nhi\r\n"
        message = StoredMessage(
            account_id=uuid.UUID(account["id"]), folder="INBOX", uidvalidity=1, uid=1,
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw, seen=False, flags=[],
        )  # fmt: skip
        session.add(message)
        await session.commit()
    js = api.running.app.state.context.broker.connection.jetstream()
    before = (await js.stream_info(FETCH.name)).state.last_seq

    await asyncio.to_thread(private_nats.stop)
    marked = await api.patch(f"/messages/{message.id}", {"seen": True})
    assert marked.status_code == 200, marked.text
    moved = await api.post(f"/messages/{message.id}/move", {"to": "trash"})
    assert moved.status_code == 202, moved.text

    port = int(private_nats.url.rsplit(":", 1)[1])
    restarted = await asyncio.to_thread(start_embedded_nats, tmp_path / "jetstream", port=port)
    try:
        # The relay publishes a batch concurrently: the two may be stored in either order.
        first = await published_command(js, before + 1, within_s=60)
        second = await published_command(js, before + 2, within_s=60)
        assert {(c.message_id, c.action) for c in (first, second)} == {
            (message.id, MailboxAction.MARK_SEEN),
            (message.id, MailboxAction.MOVE_TO_TRASH),
        }
    finally:
        await asyncio.to_thread(restarted.stop)
