"""The admin console's frame in a real browser (#16): sign-in and sign-out, the session cookie's
flags, CSRF, the language switch, a mail server made through the form (S1–S13), a field's error
beside it with the typed values kept, a stale edit (S13, 412), a delete refused naming the
accounts that still use the server, the e-mail settings (G1–G6), and screenshots plus an axe-core
check of every screen at desktop and phone width."""

import re
import uuid

import pytest
from console_browser import NewContext, Shoot, describe, serious_violations, sign_in
from e2e_system import RunningSystem
from playwright.async_api import expect

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
