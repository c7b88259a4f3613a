"""The admin console's frame in a real browser (#16): sign-in and sign-out, the session cookie's
flags, CSRF, the language switch, a mail server made through the form (S1–S13), a field's error
beside it with the typed values kept, a stale edit (S13, 412), a delete refused naming the
accounts that still use the server, the e-mail settings (G1–G6), and screenshots plus an axe-core
check of every screen at desktop and phone width."""

import re
import uuid

import httpx
import pytest
from console_browser import DESKTOP, PHONE, NewContext, Shoot, describe, serious_violations, sign_in, user_key
from e2e_system import RunningSystem
from mailbridge.testkit.stack import MailStack
from playwright.async_api import Page, expect

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def test_a_wrong_key_is_refused_and_the_admin_key_signs_in_with_a_strict_cookie(
    new_context: NewContext, console_system: RunningSystem, shoot: Shoot
) -> None:
    context = await new_context()
    page = await context.new_page()
    await page.goto("/console")
    await expect(page).to_have_url(re.compile(r"/console/sign-in"))
    await shoot(page, "sign-in")
    assert await serious_violations(page) == [], describe(await serious_violations(page))

    await sign_in(page, "mbk_" + "0" * 32 + "_wrong")
    await expect(page.get_by_role("alert")).to_contain_text("refused")
    assert not [c for c in await context.cookies() if c["name"] == "mb_console"]

    await sign_in(page, console_system.admin_key())
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mail servers")
    session = next(c for c in await context.cookies() if c["name"] == "mb_console")
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["secure"] is False  # plain http on loopback; https sets Secure (unit-tested)
    assert session["path"] == "/console"
    assert console_system.admin_key() not in session["value"]  # encrypted, not the key itself


def server_body(name: str, stack: MailStack) -> dict[str, object]:
    return {
        "name": name, "smtp_host": f"127.0.0.1:{stack.ports.submission}", "incoming_protocol": "imap",
        "incoming_host": f"127.0.0.1:{stack.ports.imaps}", "incoming_tls_mode": "implicit",
    }  # fmt: skip


async def test_a_mail_server_is_made_through_the_form_against_the_harness_servers(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot
) -> None:
    """S1–S13 through the form: every field labelled, choices for the enums, saved by the API."""
    name = unique("Stack server")
    await page.get_by_role("link", name="New").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("New mail server")
    await shoot(page, "mail-server-new")
    await page.get_by_label(re.compile(r"^Name")).fill(name)
    await page.get_by_label(re.compile(r"^Outgoing server \(S3\)")).fill(
        f"127.0.0.1:{mail_stack.ports.submission}"
    )
    await page.get_by_label("SMTP encryption (S4)").select_option("auto")
    await page.get_by_label(re.compile(r"^Type / incoming protocol")).select_option("imap")
    await page.get_by_label(re.compile(r"^Incoming server \(S8\)")).fill(
        f"127.0.0.1:{mail_stack.ports.imaps}"
    )
    await page.get_by_label("TLS mode (S9)").select_option("implicit")
    await page.get_by_label("Sent folder (S10)").fill("Sent")
    await page.get_by_role("button", name="Save").click()

    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await shoot(page, "mail-server-saved")
    created = [
        s
        for s in (await admin_api.get("/mail-servers", params={"limit": 200})).json()["items"]
        if s["name"] == name
    ]
    assert len(created) == 1
    server = created[0]
    assert (server["smtp_port"], server["incoming_port"]) == (
        mail_stack.ports.submission,
        mail_stack.ports.imaps,
    )
    assert (server["incoming_tls_mode"], server["sent_folder"], server["smtp_auth"]) == (
        "implicit",
        "Sent",
        True,
    )
    assert server["limits_preset"] is None  # an optional choice left at "(none)"
    await page.get_by_role("link", name="Back to the list").click()
    await expect(page.get_by_role("link", name=name)).to_be_visible()


async def test_a_bad_value_is_named_beside_its_field_and_nothing_typed_is_lost(
    page: Page, shoot: Shoot
) -> None:
    name = unique("Typo server")
    await page.goto("/console/mail-servers/new")
    await page.get_by_label(re.compile(r"^Name")).fill(name)
    await page.get_by_label(re.compile(r"^Outgoing server \(S3\)")).fill("smtp.example.com:70000")
    await page.get_by_label(re.compile(r"^Type / incoming protocol")).select_option("pop3")
    await page.get_by_label(re.compile(r"^Incoming server \(S8\)")).fill("pop.example.com")
    await page.get_by_label("Delete after x days (S12)").fill("several")
    await page.get_by_role("button", name="Save").click()

    smtp = page.get_by_label(re.compile(r"^Outgoing server \(S3\)"))
    await expect(smtp).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-field=smtp_host] .error")).to_contain_text("S3")
    await expect(page.locator("[data-field=delete_after_days] .error")).to_be_visible()
    await expect(page.locator("[data-field=name] .error")).to_have_count(0)
    # what was typed is still there, the bad values included
    await expect(page.get_by_label(re.compile(r"^Name"))).to_have_value(name)
    await expect(smtp).to_have_value("smtp.example.com:70000")
    await expect(page.get_by_label(re.compile(r"^Type / incoming protocol"))).to_have_value("pop3")
    await expect(page.get_by_label("Delete after x days (S12)")).to_have_value("several")
    await shoot(page, "mail-server-errors")
    assert await serious_violations(page) == [], describe(await serious_violations(page))


async def test_a_stale_edit_says_someone_else_changed_it_and_offers_a_reload(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot
) -> None:
    """S13: the form carries the version it was made from; a change in between is a 412."""
    server = (
        await admin_api.post("/mail-servers", json=server_body(unique("Shared server"), mail_stack))
    ).json()
    await page.goto(f"/console/mail-servers/{server['id']}")
    changed = await admin_api.patch(f"/mail-servers/{server['id']}", json={"sent_folder": "Elsewhere"})
    assert changed.status_code == 200, changed.text

    await page.get_by_label("Trash folder (S10)").fill("Bin")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#stale")).to_contain_text("Someone else changed this object")
    await expect(page.get_by_label("Trash folder (S10)")).to_have_value("Bin")
    await shoot(page, "mail-server-stale")
    assert (await admin_api.get(f"/mail-servers/{server['id']}")).json()["trash_folder"] is None

    await page.get_by_role("link", name=re.compile("Reload the current version")).click()
    await expect(page.get_by_label("Sent folder (S10)")).to_have_value("Elsewhere")
    await expect(page.get_by_label("Trash folder (S10)")).to_have_value("")


async def test_a_server_still_in_use_is_not_deleted_and_its_accounts_are_named(
    page: Page, admin_api: httpx.AsyncClient, mail_stack: MailStack, shoot: Shoot
) -> None:
    server = (
        await admin_api.post("/mail-servers", json=server_body(unique("Busy server"), mail_stack))
    ).json()
    owner = (
        await admin_api.post("/users", json={"name": unique("Owner"), "email": "owner@example.com"})
    ).json()
    address = f"busy-{uuid.uuid4().hex[:6]}@example.com"
    account = (await admin_api.post("/mail-accounts", json={
        "owner": {"type": "user", "id": owner["id"]}, "server_id": server["id"], "login": address,
        "password": "secret", "address": address,
    }))  # fmt: skip
    assert account.status_code == 201, account.text

    await page.goto(f"/console/mail-servers/{server['id']}")
    await page.get_by_role("link", name="Delete").click()
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator("#blocked")).to_contain_text("still used by")
    await expect(page.locator("#blocked .blockers")).to_contain_text(address)
    await shoot(page, "mail-server-delete-blocked")
    assert (await admin_api.get(f"/mail-servers/{server['id']}")).status_code == 200

    assert (await admin_api.delete(f"/mail-accounts/{account.json()['id']}")).status_code == 204
    await page.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text("Deleted.")
    assert (await admin_api.get(f"/mail-servers/{server['id']}")).status_code == 404


async def test_every_screen_renders_at_desktop_and_phone_width_without_serious_accessibility_violations(
    page: Page, shoot: Shoot
) -> None:
    """Each screen of the navigation, its list and its empty form: screenshots, and axe-core."""
    screens = ["mail-servers", "mail-settings", "oauth-providers", "users", "groups", "business-units"]
    for screen in screens:
        for path in (f"/console/{screen}", f"/console/{screen}/new"):
            if path == "/console/mail-settings/new":
                continue
            answer = await page.goto(path)
            assert answer is not None, path
            assert answer.status == 200, path
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            await shoot(page, path.removeprefix("/console/").replace("/", "-"))
            found = await serious_violations(page)
            assert found == [], f"{path}:\n{describe(found)}"
            for size in (DESKTOP, PHONE):  # nothing wider than the window
                await page.set_viewport_size(size)  # type: ignore[arg-type]
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{path} is {overflow} px too wide at {size['width']} px"
            await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


async def test_the_oauth_provider_form_shows_the_redirect_uri_to_register(
    page: Page, console_system: RunningSystem
) -> None:
    """O1–O3: the provider form names the URI to register; with the default settings of a
    Microsoft 365 provider nothing else is needed."""
    await page.goto("/console/oauth-providers/new")
    await expect(page.locator(".redirect-uri")).to_have_text(f"{console_system.base_url}/oauth/callback")
    await page.get_by_label(re.compile(r"^Name")).fill(unique("M365 OAUTH2"))
    await page.get_by_label("Server type (O1)").select_option("microsoft365_email")
    await page.get_by_label("Use default settings (O1)").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.locator(".redirect-uri")).to_have_text(f"{console_system.base_url}/oauth/callback")


async def test_the_mail_settings_are_saved_through_the_form_and_a_bad_interval_is_named(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    """G1–G6 on one form; G2's range is the API's rule."""
    before = (await admin_api.get("/settings/mail")).json()
    try:
        await page.goto("/console/mail-settings")
        interval = page.get_by_label(re.compile(r"^Automatic fetch every"))
        await interval.fill("0")
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("[data-field=fetch_interval_minutes] .error")).to_contain_text("G2")
        await expect(interval).to_have_value("0")

        await interval.fill("30")
        await page.get_by_label("Lock after sending (G6)").check()
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_have_text("Saved.")
        now = (await admin_api.get("/settings/mail")).json()
        assert (now["fetch_interval_minutes"], now["lock_after_send"]) == (30, True)
    finally:
        keys = ("hide_mailbox", "fetch_interval_minutes", "show_outbox_folder", "disallow_manual_fetch",
                "users_can_reload", "lock_after_send")  # fmt: skip
        (await admin_api.patch("/settings/mail", json={key: before[key] for key in keys}))


async def test_the_language_follows_the_browser_and_the_switch_overrides_it(new_context: NewContext) -> None:
    page = await (await new_context(locale="de-DE")).new_page()
    await page.goto("/console/sign-in")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden")
    await expect(page.locator("html")).to_have_attribute("lang", "de")

    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    await expect(page.locator("html")).to_have_attribute("lang", "en")


async def test_german_screens_carry_the_manuals_labels_and_help(
    new_context: NewContext, console_system: RunningSystem, shoot: Shoot
) -> None:
    page = await (await new_context(locale="de-DE")).new_page()
    await sign_in(page, console_system.admin_key())
    await page.goto("/console/mail-servers/new")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Neuer E-Mail-Server")
    smtp = page.get_by_label(re.compile(r"^Postausgangsserver \(S3\)"))
    await expect(smtp).to_have_attribute("aria-describedby", "h-smtp_host")
    await expect(page.locator("#h-smtp_host")).to_contain_text("IP:Port")
    await shoot(page, "mail-server-new-de")
    await page.goto("/console/mail-settings")
    await expect(page.get_by_label("Nach Versand sperren (G6)")).to_be_visible()
    await shoot(page, "mail-settings-de")


async def test_signing_out_ends_the_session(page: Page) -> None:
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    assert not [c for c in await page.context.cookies() if c["name"] == "mb_console"]
    await page.goto("/console/mail-servers")
    await expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    page: Page, admin_api: httpx.AsyncClient
) -> None:
    name = unique("Forged server")
    fields: dict[str, str | float | bool] = {
        "name": name, "smtp_host": "smtp.example.com", "incoming_protocol": "imap", "incoming_host": "imap.example.com",
    }  # fmt: skip
    tokens: list[dict[str, str | float | bool]] = [{}, {"csrf": "not-the-token"}]
    for token in tokens:
        answer = await page.request.post("/console/mail-servers/new", form=fields | token, max_redirects=0)
        assert answer.status == 403
        assert "CSRF" in await answer.text()
    signing_in = await page.request.post("/console/sign-in", form={"api_key": "x"}, max_redirects=0)
    assert signing_in.status == 403
    names = [s["name"] for s in (await admin_api.get("/mail-servers", params={"limit": 200})).json()["items"]]
    assert name not in names


async def test_a_user_key_sees_only_what_the_api_lets_it_see(
    new_context: NewContext, console_system: RunningSystem, admin_api: httpx.AsyncClient
) -> None:
    user = (
        await admin_api.post("/users", json={"name": unique("Plain user"), "email": "plain@example.com"})
    ).json()
    page = await (await new_context()).new_page()
    await sign_in(page, user_key(console_system, user["id"]))
    # every key may read the e-mail settings (G1, G3) and its own mail accounts (none yet)
    await expect(page.get_by_role("heading", level=1)).to_have_text("E-mail settings")
    navigation = page.get_by_role("navigation", name="Screens")
    await expect(navigation.get_by_role("link")).to_have_text(["E-mail settings", "Mail accounts"])
    answer = await page.goto("/console/users")
    assert answer is not None
    assert answer.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("admin")
    await page.goto("/console/mail-settings")
    await page.get_by_role("button", name="Save").click()  # only admins change them
    await expect(page.get_by_role("alert")).to_contain_text("admin")


async def test_a_form_is_usable_by_keyboard_alone(page: Page, admin_api: httpx.AsyncClient) -> None:
    """The skip link first, then the form's first field; Enter saves."""
    name = unique("Keyboard unit")
    await page.goto("/console/business-units/new")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label(re.compile(r"^Name"))).to_be_focused()
    await page.keyboard.type(name)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    units = (await admin_api.get("/business-units", params={"limit": 200})).json()["items"]
    assert name in [unit["name"] for unit in units]
