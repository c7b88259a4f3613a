"""The console's mail account, mailbox, outbox and compose pages in-process (#16; A1–A12, O4, T1,
G1, G4), on both databases: a form post becomes the API's object, its problems come back beside
their fields, a user key sees only its own accounts, a stored HTML mail is served sanitized in a
sandboxed frame with a strict CSP, its attachment downloads, a composed mail is queued.
(The whole system in a real browser: tests/console/test_console_accounts.py.)"""

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from broker_double import broker_double
from config_api_testing import Api, account_body, imap_server_body, oauth_world
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.oauth_requests import CONNECT_REQUEST_SUBJECT, ConnectStarted

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
REMOTE_IMAGE = "https://tracker.example/pixel.png"


class Console:
    """A browser-like client of /console, signed in with one API key."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.csrf = ""

    async def sign_in(self, key: str) -> None:
        page = await self.client.get("/console/sign-in")
        token = CSRF.search(page.text)
        assert token, page.text
        answer = await self.client.post(
            "/console/sign-in", data={"csrf": token.group(1), "api_key": key, "next": "/console"}
        )
        assert answer.status_code == 303, answer.text
        landing = await self.client.get("/console/mail-accounts")
        found = CSRF.search(landing.text)
        assert found, landing.text
        self.csrf = found.group(1)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params or None)

    async def post(self, path: str, data: dict[str, Any], files: Any = None) -> httpx.Response:
        return await self.client.post(path, data={"csrf": self.csrf, **data}, files=files)


@asynccontextmanager
async def signed_in(api: Api, key: str) -> AsyncIterator[Console]:
    """The console of `api`'s app, signed in with `key`."""
    transport = httpx.ASGITransport(app=api.running.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mailbridge") as client:
        console = Console(client)
        await console.sign_in(key)
        yield console


@pytest.fixture
async def console(api: Api) -> AsyncIterator[Console]:
    async with signed_in(api, api.key) as admin:
        yield admin


async def _world(api: Api) -> dict[str, Any]:
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    return {"server": server, "ann": ann, "bob": bob}


def _form(address: str, server_id: str, owner: str, **changes: str) -> dict[str, str]:
    return {
        "owner": owner, "server_id": server_id, "login": address, "password": "secret", "address": address,
        "can_send": "on", "can_receive": "on", **changes,
    }  # fmt: skip


async def test_an_account_made_through_the_form_is_the_apis_and_shows_its_health(
    api: Api, console: Console
) -> None:
    world = await _world(api)
    form = await console.get("/console/mail-accounts/new")
    assert form.status_code == 200
    for label in (
        "Owner (A1)",
        "Account user (A2)",
        "Password/Connect (A3)",
        "Reply To (A6)",
        "Out-of-office (A12)",
    ):
        assert label in form.text
    assert f'value="user:{world["ann"]["id"]}"' in form.text
    assert "User: Ann" in form.text

    made = await console.post(
        "/console/mail-accounts/new",
        _form("ann@example.com", world["server"]["id"], f"user:{world['ann']['id']}", alias="Ann Berger"),
    )
    assert made.status_code == 303, made.text
    account_id = made.headers["location"].split("/")[-1].split("?")[0]
    stored = (await api.get(f"/mail-accounts/{account_id}")).json()
    assert (stored["owner"], stored["alias"], stored["has_password"]) == (
        {"type": "user", "id": world["ann"]["id"]}, "Ann Berger", True,
    )  # fmt: skip

    page = await console.get(made.headers["location"])
    assert "Saved." in page.text
    assert "Health" in page.text
    assert "Last fetch" in page.text
    assert "never" in page.text
    assert "Test credentials" in page.text
    listing = await console.get("/console/mail-accounts")
    assert "ann@example.com" in listing.text
    assert "Ann" in listing.text
    assert "Main IMAP" in listing.text
    owned = await console.get("/console/mail-accounts", owner=f"user:{world['bob']['id']}")
    assert "ann@example.com" not in owned.text
    assert f'<option value="user:{world["bob"]["id"]}" selected>User: Bob</option>' in owned.text


async def test_a_groups_account_is_made_and_listed_for_its_group(api: Api, console: Console) -> None:
    world = await _world(api)
    sales = await api.create("/groups", {"name": "Sales", "member_ids": [world["ann"]["id"]]})
    made = await console.post(
        "/console/mail-accounts/new",
        _form("sales@example.com", world["server"]["id"], f"group:{sales['id']}"),
    )
    assert made.status_code == 303, made.text
    account_id = made.headers["location"].split("/")[-1].split("?")[0]
    assert (await api.get(f"/mail-accounts/{account_id}")).json()["owner"] == {
        "type": "group",
        "id": sales["id"],
    }
    listed = await console.get("/console/mail-accounts", owner=f"group:{sales['id']}")
    assert "sales@example.com" in listed.text
    assert "User group: Sales" in listed.text


async def test_a_bad_address_is_named_beside_its_field_and_the_typed_values_stay(
    api: Api, console: Console
) -> None:
    world = await _world(api)
    answer = await console.post(
        "/console/mail-accounts/new",
        _form("not an address", world["server"]["id"], f"user:{world['ann']['id']}", alias="Typed alias"),
    )
    assert answer.status_code == 422
    field = answer.text.split('data-field="address"', 1)[1].split('data-field="reply_to"', 1)[0]
    assert 'aria-invalid="true"' in field
    assert "A5" in field
    assert 'value="Typed alias"' in answer.text
    assert 'value="not an address"' in answer.text


async def test_a_user_key_cannot_open_another_users_account(api: Api, console: Console) -> None:
    world = await _world(api)
    bobs = await api.create(
        "/mail-accounts", account_body(world["server"]["id"], "user", world["bob"]["id"], "bob@example.com")
    )
    ann_key = (await api.user_key(world["ann"]["id"])).key
    async with signed_in(api, ann_key) as ann:
        for path in ("", "/mailbox", "/outbox", "/compose", "/out-of-office"):
            refused = await ann.get(f"/console/mail-accounts/{bobs['id']}{path}")
            assert refused.status_code == 404, path
            assert "bob@example.com" not in refused.text
        assert "bob@example.com" not in (await ann.get("/console/mail-accounts")).text


def _html_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Buyer <buyer@shop.example>", "ann@example.com", "Order 4711"
    mail.set_content("Plain version of order 4711")
    mail.add_alternative(
        "<p onclick=\"steal()\">Order <b>4711</b></p><script>document.title='ran'</script>"
        f'<img src="{REMOTE_IMAGE}" alt="pixel"><iframe src="https://evil.example/"></iframe>',
        subtype="html",
    )
    mail.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="order-4711.csv")
    return mail.as_bytes()


async def _stored(api: Api, account_id: str, raw: bytes, subject: str, sender: str, uid: int) -> str:
    async with api.running.sessions() as session:
        message = StoredMessage(
            account_id=uuid.UUID(account_id), folder="INBOX", uidvalidity=1, uid=uid,
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw, subject=subject,
            from_address=sender, has_attachments=True,
        )  # fmt: skip
        session.add(message)
        await session.commit()
        return str(message.id)


async def test_an_html_mail_is_shown_sanitized_in_a_sandbox_and_its_attachment_downloads(
    api: Api, console: Console
) -> None:
    world = await _world(api)
    account = await api.create(
        "/mail-accounts", account_body(world["server"]["id"], "user", world["ann"]["id"])
    )
    base = f"/console/mail-accounts/{account['id']}"
    older = await _stored(api, account["id"], b"Subject: Older\r\n\r\nold\r\n", "Older", "old@x.example", 1)
    newest = await _stored(api, account["id"], _html_mail(), "Order 4711", "buyer@shop.example", 2)

    mailbox = await console.get(f"{base}/mailbox")
    assert mailbox.text.index(newest) < mailbox.text.index(older)  # newest first
    searched = await console.get(f"{base}/mailbox", search="SHOP.example")
    assert newest in searched.text
    assert older not in searched.text

    page = await console.get(f"{base}/messages/{newest}")
    assert page.status_code == 200
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame
    assert 'sandbox="' in frame.group(0)
    assert "allow-scripts" not in frame.group(0)
    assert "allow-same-origin" not in frame.group(0)
    assert "Show remote content" in page.text
    assert "order-4711.csv" in page.text

    body = await console.get(f"{base}/messages/{newest}/body")
    csp = body.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "img-src data:;" in csp
    assert "sandbox" in csp
    assert "script-src" not in csp
    assert "<script" not in body.text
    assert "onclick" not in body.text
    assert "<iframe" not in body.text
    assert REMOTE_IMAGE not in body.text
    assert "<b>4711</b>" in body.text
    shown = await console.get(f"{base}/messages/{newest}/body", remote="1")
    assert REMOTE_IMAGE in shown.text
    assert "https:" in shown.headers["content-security-policy"]
    assert "<script" not in shown.text

    index = re.search(rf"{base}/messages/{newest}/attachments/(\d+)", page.text)
    assert index
    download = await console.get(index.group(0))
    assert download.content == b"a,b\n1,2\n"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''order-4711.csv"
    assert (await console.get(f"{base}/messages/{newest}/attachments/0")).status_code == 404


async def test_a_composed_mail_is_queued_once_and_shown_in_the_outbox(api: Api, console: Console) -> None:
    world = await _world(api)
    account = await api.create(
        "/mail-accounts", account_body(world["server"]["id"], "user", world["ann"]["id"])
    )
    base = f"/console/mail-accounts/{account['id']}"
    compose = await console.get(f"{base}/compose")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', compose.text)
    assert key
    form = {
        "idempotency_key": key.group(1), "to": "buyer@customer.example, boss@customer.example", "cc": "",
        "bcc": "", "subject": "Order 4711", "text": "Ships Friday.",
    }  # fmt: skip
    files = [("attachments", ("note.txt", b"hello", "text/plain"))]
    sent = await console.post(f"{base}/compose", form, files=files)
    assert sent.status_code == 303, sent.text
    again = await console.post(f"{base}/compose", form, files=files)  # a second click
    assert again.headers["location"] == sent.headers["location"]
    items = (await api.get("/outbox", account_id=account["id"])).json()["items"]
    assert len(items) == 1
    assert items[0]["request"]["to"] == ["buyer@customer.example", "boss@customer.example"]
    outbox = await console.get(sent.headers["location"])
    assert "Order 4711" in outbox.text
    assert "queued" in outbox.text

    bad = await console.post(f"{base}/compose", form | {"idempotency_key": "other", "to": "nobody"})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text.split('data-field="to"', 1)[1].split('data-field="cc"', 1)[0]
    assert 'value="nobody"' in bad.text
    assert "Ships Friday." in bad.text


async def test_the_out_of_office_is_set_through_its_form(api: Api, console: Console) -> None:
    world = await _world(api)
    account = await api.create(
        "/mail-accounts",
        account_body(world["server"]["id"], "user", world["ann"]["id"], can_set_out_of_office=True),
    )
    path = f"/console/mail-accounts/{account['id']}/out-of-office"
    form = {
        "enabled": "on",
        "subject": "Away",
        "body": "",
        "starts_at": "",
        "ends_at": "",
        "reply_interval_days": "7",
    }
    refused = await console.post(path, form)
    assert refused.status_code == 422
    assert "an enabled out-of-office needs a body" in refused.text
    saved = await console.post(path, form | {"body": "Back on Monday."})
    assert saved.status_code == 303
    stored = (await api.get(f"/mail-accounts/{account['id']}/out-of-office")).json()
    assert (stored["enabled"], stored["body"]) == (True, "Back on Monday.")


async def test_connect_opens_the_providers_sign_in_and_the_page_shows_the_connection_state(
    api: Api, console: Console, nats_url: str
) -> None:
    """O4: "Connect" on an OAuth server's account goes to the authorization URL the broker made;
    an account on a password server offers no Connect, and the API's refusal is shown."""
    world = await oauth_world(api)
    account_id = world["mine"]["id"]
    page = await console.get(f"/console/mail-accounts/{account_id}")
    assert 'id="oauth-status">not connected<' in page.text
    assert f'action="/console/mail-accounts/{account_id}/connect"' in page.text
    authorize = "https://login.example.com/authorize?state=s1"
    reply = ConnectStarted(
        account_id=uuid.UUID(account_id),
        authorization_url=authorize,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    async with broker_double(nats_url, {CONNECT_REQUEST_SUBJECT: [reply]}):
        connect = await console.post(f"/console/mail-accounts/{account_id}/connect", {})
    assert connect.status_code == 303
    assert connect.headers["location"] == authorize

    password_server = await api.create("/mail-servers", imap_server_body("Password server"))
    owner = world["mine"]["owner"]
    plain = await api.create(
        "/mail-accounts", account_body(password_server["id"], owner["type"], owner["id"], "p@example.com")
    )
    plain_page = await console.get(f"/console/mail-accounts/{plain['id']}")
    assert f"/console/mail-accounts/{plain['id']}/connect" not in plain_page.text
    refused = await console.post(f"/console/mail-accounts/{plain['id']}/connect", {})
    assert refused.status_code == 409
    assert "without an OAuth provider" in refused.text


async def test_fetch_now_is_offered_where_g4_allows_it(api: Api, console: Console) -> None:
    """G4: with "no manual fetch" and a schedule, a user's mailbox offers no "Fetch now" (and the
    API refuses the form anyway); an admin's still does."""
    world = await _world(api)
    account = await api.create(
        "/mail-accounts", account_body(world["server"]["id"], "user", world["ann"]["id"])
    )
    mailbox = f"/console/mail-accounts/{account['id']}/mailbox"
    async with signed_in(api, (await api.user_key(world["ann"]["id"])).key) as ann:
        assert "Fetch now" in (await ann.get(mailbox)).text
        await api.patch("/settings/mail", {"disallow_manual_fetch": True, "fetch_interval_minutes": 15})
        try:
            page = await ann.get(mailbox)
            assert "Fetch now" not in page.text
            assert "Manual fetching is switched off" in page.text
            refused = await ann.post(f"/console/mail-accounts/{account['id']}/fetch", {})
            assert refused.status_code == 403
            assert "G4" in refused.text
            assert "Fetch now" in (await console.get(mailbox)).text
        finally:
            await api.patch("/settings/mail", {"disallow_manual_fetch": False})


async def test_a_stale_account_edit_says_someone_else_changed_it_and_keeps_the_typed_values(
    api: Api, console: Console
) -> None:
    world = await _world(api)
    account = await api.create(
        "/mail-accounts", account_body(world["server"]["id"], "user", world["ann"]["id"])
    )
    page = await console.get(f"/console/mail-accounts/{account['id']}")
    etag = re.search(r'name="etag" value="([^"]+)"', page.text)
    assert etag
    await api.patch(f"/mail-accounts/{account['id']}", {"alias": "Changed elsewhere"})
    form = _form("ann@example.com", world["server"]["id"], f"user:{world['ann']['id']}", alias="Mine")
    stale = await console.post(f"/console/mail-accounts/{account['id']}", form | {"etag": etag.group(1)})
    assert stale.status_code == 412
    assert "Someone else changed this object" in stale.text
    assert 'value="Mine"' in stale.text
    assert (await api.get(f"/mail-accounts/{account['id']}")).json()["alias"] == "Changed elsewhere"


async def test_the_account_screens_speak_german_when_the_browser_asks(api: Api, console: Console) -> None:
    world = await _world(api)
    german = {"Accept-Language": "de-DE,de;q=0.9"}
    listing = await console.client.get("/console/mail-accounts", headers=german)
    assert "<h1>E-Mail-Konten" in listing.text
    form = await console.client.get(
        f"/console/mail-accounts/new?owner=user:{world['ann']['id']}", headers=german
    )
    for label in ("Konto Benutzer (A2)", "Passwort/Verbinden (A3)", "Betrieb (A4)", "E-Mail-Monitor (A10)"):
        assert label in form.text
    assert "häufig wird die E-Mail-Adresse verwendet" in form.text  # the manual's help
    assert f'<option value="user:{world["ann"]["id"]}" selected>Benutzer: Ann</option>' in form.text
