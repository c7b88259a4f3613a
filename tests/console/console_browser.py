"""Helpers of the console's browser tests (fixtures in conftest.py): Chromium's path and flags,
signing in, and the axe-core check."""

import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from e2e_system import KEY_LINE, REPO, RunningSystem
from playwright.async_api import BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
MAILBRIDGE = Path(sys.executable).parent / "mailbridge"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(os.environ.get("MAILBRIDGE_CONSOLE_SCREENSHOTS") or REPO / "test-artifacts" / "console")
SERIOUS = ("serious", "critical")

# new_context(locale=..., viewport=...) → a browser context of its own (conftest.new_context)
NewContext = Callable[..., Awaitable[BrowserContext]]
# shoot(page, name) → screenshots of the screen at desktop and phone width (conftest.shoot)
Shoot = Callable[[Page, str], Awaitable[None]]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: apt-get install chromium (or scripts/install-mail-servers)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"required test tool unavailable in CI: {reason}")
    pytest.skip(reason)


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/console/sign-in")
    await page.get_by_label(re.compile("API key|API-Schlüssel")).fill(key)
    await page.get_by_role("button", name=re.compile("^(Sign in|Anmelden)$")).click()
    await page.wait_for_load_state()


async def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = await Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [v for v in violations if v.get("impact") in SERIOUS]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in violations
    )


def user_key(system: RunningSystem, user_id: str) -> str:
    """A user API key made the way an admin makes one: `mailbridge api-key create --user ID`
    against the running system's data folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILBRIDGE_")}
    env["MAILBRIDGE_VAR_DIR"] = str(system.var_dir)
    made = subprocess.run(
        [str(MAILBRIDGE), "api-key", "create", "--user", user_id],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    match = KEY_LINE.search(made.stdout)
    assert made.returncode == 0, made.stdout + made.stderr
    assert match, made.stdout
    return match.group(1)
