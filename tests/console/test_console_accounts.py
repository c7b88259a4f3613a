"""The console's mail account, mailbox, outbox and compose screens in a real browser (#16; A1–A12,
T1, G1, G4) against `make run` and the harness's Dovecot/Postfix: a user and an account made
through the forms pass "Test credentials" step by step; a mail is fetched, read and its
attachment downloaded; an HTML mail's script does not run and its remote image loads only once
asked; a mail written in the console is sent; a user key cannot open another user's account;
screenshots and axe-core on each of these screens."""

import asyncio
import base64
import email.message
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from console_browser import NewContext, Shoot, describe, serious_violations, sign_in, user_key
from e2e_system import RunningSystem
from mailbridge.testkit.stack import MailStack
from playwright.async_api import Page, expect
from test_console_frame import server_body, unique

pytestmark = pytest.mark.slow

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
LOOKS = 60  # how often a test looks again for what the system does in the background (not a timer)


class Tracker:
    """A web server on loopback that records every path asked of it: a remote image's server,
    and where a mail's script would report that it ran."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tracker.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(PIXEL)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    running = Tracker()
    try:
        yield running
    finally:
        running.close()


async def _check(page: Page, shoot: Shoot, name: str) -> None:
    await shoot(page, name)
    violations = await serious_violations(page)
    assert violations == [], describe(violations)


async def _account(
    admin_api: httpx.AsyncClient, stack: MailStack, owner_id: str, **changes: Any
) -> dict[str, Any]:
    server = (await admin_api.post("/mail-servers", json=server_body(unique("Stack"), stack))).json()
    mailbox = stack.add_user()
    body = {
        "owner": {"type": "user", "id": owner_id}, "server_id": server["id"], "login": mailbox.address,
        "password": mailbox.password, "address": mailbox.address, **changes,
    }  # fmt: skip
    made = await admin_api.post("/mail-accounts", json=body)
    assert made.status_code == 201, made.text
    account: dict[str, Any] = made.json()
    return account


async def _user(admin_api: httpx.AsyncClient, name: str) -> dict[str, Any]:
    address = f"{uuid.uuid4().hex[:12]}@example.com"
    made = await admin_api.post("/users", json={"name": unique(name), "email": address})
    assert made.status_code == 201, made.text
    user: dict[str, Any] = made.json()
    return user


async def test_a_user_and_an_account_made_through_the_forms_pass_the_credentials_test(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot
) -> None:
    """A user (users screen) and an account (A1–A12) through the forms, then "Test credentials"
    (T1): every step ok against the harness's Dovecot and Postfix."""
    server = (await admin_api.post("/mail-servers", json=server_body(unique("Stack"), mail_stack))).json()
    mailbox = mail_stack.add_user()
    name = unique("Anna Berger")
    await page.goto("/console/users/new")
    await page.get_by_label(re.compile(r"^Name")).fill(name)
    await page.get_by_label(re.compile(r"^E-mail")).fill("anna.berger@example.com")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")

    await page.get_by_role("navigation", name="Screens").get_by_role("link", name="Mail accounts").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mail accounts")
    await page.get_by_role("link", name="New").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New mail account")
    await _check(page, shoot, "mail-account-new")
    await page.get_by_label(re.compile(r"^Owner \(A1\)")).select_option(label=f"User: {name}")
    await page.get_by_label(re.compile(r"^Mail server \(A2\)")).select_option(label=server["name"])
    await page.get_by_label(re.compile(r"^Account user \(A2\)")).fill(mailbox.address)
    await page.get_by_label("Password/Connect (A3)").fill(mailbox.password)
    await page.get_by_label(re.compile(r"^Mail address \(A5\)")).fill(mailbox.address)
    await page.get_by_label("Alias (A7)").fill(name)
    await page.get_by_label("Out-of-office (A12)").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status").first).to_have_text("Saved.")
    await expect(page.get_by_role("heading", name="Health")).to_be_visible()
    await _check(page, shoot, "mail-account")

    await page.get_by_role("button", name="Test credentials").click()
    for _ in range(LOOKS):
        if not await page.locator("#test-running").count():
            break
        await page.get_by_role("link", name="Look again").click()
    steps = page.locator("ol.steps > li")
    await expect(page.get_by_text("Every step worked.")).to_be_visible()
    assert await steps.count() >= 10
    assert await page.locator("ol.steps > li.step-failed").count() == 0
    await expect(steps.filter(has_text="Receive the test mail")).to_contain_text("ok")
    await _check(page, shoot, "mail-account-test")

    await page.get_by_role("link", name="Back to the account").click()
    await page.get_by_role("link", name="Set the out-of-office reply").click()
    await page.get_by_label("Out-of-office on").check()
    await page.get_by_label(re.compile(r"^Text")).fill("Back on Monday.")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await _check(page, shoot, "mail-account-out-of-office")

    await page.goto("/console/mail-accounts")
    row = page.get_by_role("row").filter(has_text=mailbox.address)
    await expect(row).to_contain_text(name)
    await expect(row).to_contain_text("ok")  # the test sent and received: health at a glance
    await _check(page, shoot, "mail-accounts")


def _html_mail(to: str, tracker: Tracker, subject: str) -> bytes:
    mail = email.message.EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Buyer <buyer@customer.example>", to, subject
    mail.set_content("When will order 4711 arrive?")
    mail.add_alternative(
        f"<p>When will order <b>4711</b> arrive?</p>"
        f"<script>new Image().src='{tracker.url}/script-ran'; document.body.innerHTML='pwned';</script>"
        f'<img src="{tracker.url}/pixel.png" alt="logo" onerror="new Image().src=\'{tracker.url}/onerror-ran\'">',
        subtype="html",
    )
    mail.add_attachment(b"item,count\nchair,3\n", maintype="text", subtype="csv", filename="order-4711.csv")
    return mail.as_bytes()


async def test_a_mail_is_fetched_and_read_safely_and_its_attachment_downloads(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot, tracker: Tracker
) -> None:
    """G4's "Fetch now", the newest mail first, search; the HTML mail's script does not run and
    its remote image is not loaded until "Show remote content"; the attachment downloads."""
    owner = await _user(admin_api, "Reader")
    account = await _account(admin_api, mail_stack, owner["id"])
    subject = unique("Order 4711")
    mail_stack.seed(account["address"], [_html_mail(account["address"], tracker, subject)])

    await page.goto(f"/console/mail-accounts/{account['id']}/mailbox")
    await page.get_by_role("button", name="Fetch now").click()
    await expect(page.get_by_role("status")).to_contain_text("Fetching was requested")
    for _ in range(LOOKS):
        if await page.get_by_role("link", name=subject).count():
            break
        await asyncio.sleep(1)  # the fetcher works in the background; look again
        await page.reload()
    await expect(page.get_by_role("link", name=subject)).to_be_visible()
    await page.get_by_label("Search sender and subject").fill("CUSTOMER.example")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_role("link", name=subject)).to_be_visible()
    await _check(page, shoot, "mailbox")

    await page.get_by_role("link", name=subject).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(subject)
    body = page.frame_locator("iframe.mail-body")
    await expect(body.locator("b")).to_have_text("4711")  # the mail's content is shown
    await expect(body.locator("body")).not_to_have_text("pwned")  # its script did not run
    await expect(page.locator("#remote-blocked")).to_be_visible()
    await _check(page, shoot, "message")
    assert tracker.paths == []  # neither the remote image nor the script reached the tracker

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="order-4711.csv").click()
    download = await downloading.value
    assert download.suggested_filename == "order-4711.csv"
    assert (await download.path()).read_bytes() == b"item,count\nchair,3\n"

    await page.get_by_role("link", name="Show remote content").click()
    await expect(page.frame_locator("iframe.mail-body").locator("b")).to_have_text("4711")
    for _ in range(LOOKS):
        if "/pixel.png" in tracker.paths:
            break
        await asyncio.sleep(0.5)
    assert "/pixel.png" in tracker.paths  # loaded once asked
    assert "/script-ran" not in tracker.paths  # and still no script
    assert "/onerror-ran" not in tracker.paths


async def test_a_mail_written_in_the_console_is_sent(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot
) -> None:
    owner = await _user(admin_api, "Writer")
    account = await _account(admin_api, mail_stack, owner["id"])
    recipient = mail_stack.add_user()
    subject = unique("Delivery on Friday")
    await page.goto(f"/console/mail-accounts/{account['id']}/compose")
    await page.get_by_label("To", exact=True).fill(recipient.address)
    await page.get_by_label("Subject", exact=True).fill(subject)
    await page.get_by_label("Text", exact=True).fill("Your order ships on Friday.")
    await _check(page, shoot, "compose")
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("status")).to_contain_text("queued")
    row = page.get_by_role("row").filter(has_text=subject)
    for _ in range(LOOKS):
        if "sent" in (await row.inner_text()).split():
            break
        await asyncio.sleep(1)  # the sender works in the background; look again
        await page.reload()
    await expect(row).to_contain_text("sent")
    await expect(row).to_contain_text("250")  # the SMTP reply
    await _check(page, shoot, "outbox")
    mail_stack.wait_for_messages(recipient.address, 1)


async def test_a_user_key_cannot_open_another_users_account(
    new_context: NewContext,
    console_system: RunningSystem,
    admin_api: httpx.AsyncClient,
    mail_stack: MailStack,
) -> None:
    ann, bob = await _user(admin_api, "Ann"), await _user(admin_api, "Bob")
    mine = await _account(admin_api, mail_stack, ann["id"])
    theirs = await _account(admin_api, mail_stack, bob["id"])
    page = await (await new_context()).new_page()
    await sign_in(page, user_key(console_system, ann["id"]))
    await page.goto("/console/mail-accounts")
    await expect(page.get_by_role("link", name=mine["address"])).to_be_visible()
    await expect(page.get_by_role("link", name=theirs["address"])).to_have_count(0)
    for suffix in ("", "/mailbox", "/outbox", "/compose"):
        answer = await page.goto(f"/console/mail-accounts/{theirs['id']}{suffix}")
        assert answer is not None
        assert answer.status == 404, suffix
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        await expect(page.get_by_text(theirs["address"])).to_have_count(0)
    await page.goto(f"/console/mail-accounts/{mine['id']}")
    await expect(page.get_by_role("heading", name="Health")).to_be_visible()
