"""The admin console's browser harness (#16): the real embedded system started by `make run`
(with the test harness's Dovecot/Postfix trusted through MAILBRIDGE_EXTRA_CA_FILE), Debian's
Chromium driven headless by Playwright's Python API, a signed-in page, screenshots of each
screen and an axe-core check of each.

- Chromium: /usr/bin/chromium (`scripts/install-mail-servers` installs Debian's `chromium`);
  without it the tests are skipped with that hint (a failure under CI). `playwright install`
  is never run: its browser download cannot work here, and it is not needed.
- Screenshots: test-artifacts/console/<screen>-<1280|phone>.png (git-ignored; CI keeps the
  folder as an artifact); MAILBRIDGE_CONSOLE_SCREENSHOTS names another folder.
- Accessibility: axe-core (bundled by `axe-playwright-python`, no network) on a page; no
  violation of impact serious or critical may remain.
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from console_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    NewContext,
    Shoot,
    require_chromium,
    sign_in,
)
from e2e_system import RunningSystem, make_run
from mailbridge.testkit.stack import MailStack
from playwright.async_api import Browser, BrowserContext, Page, async_playwright


@pytest.fixture(scope="module")
def console_system(
    tmp_path_factory: pytest.TempPathFactory, mail_stack: MailStack
) -> Iterator[RunningSystem]:
    """`make run` on free loopback ports; the console is at {base_url}/console."""
    require_chromium()
    trusting = {"MAILBRIDGE_EXTRA_CA_FILE": str(mail_stack.ca_file)}
    with make_run(tmp_path_factory.mktemp("console") / "var", trusting) as system:
        yield system


@pytest.fixture(scope="module")
async def admin_api(console_system: RunningSystem) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the admin key, to set the scene or change an object behind the browser's back."""
    headers = {"Authorization": f"Bearer {console_system.admin_key()}"}
    base_url = f"{console_system.base_url}/api/v1"
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def new_context(browser: Browser, console_system: RunningSystem) -> AsyncIterator[NewContext]:
    """Browser contexts (own cookies) at the console's base URL, English unless `locale` says."""
    contexts: list[BrowserContext] = []

    async def make(locale: str = "en-GB", viewport: dict[str, int] | None = None) -> BrowserContext:
        context = await browser.new_context(
            base_url=console_system.base_url,
            locale=locale,
            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
        )
        context.set_default_timeout(60_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture
async def page(new_context: NewContext, console_system: RunningSystem) -> Page:
    """A page signed in with the admin key (desktop width, English)."""
    context = await new_context()
    signed_in = await context.new_page()
    await sign_in(signed_in, console_system.admin_key())
    return signed_in


@pytest.fixture
def shoot() -> Shoot:
    """Screenshot of the page's screen at desktop and at phone width: <name>-1280.png and
    <name>-phone.png in the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> None:
        for label, size in (("1280", DESKTOP), ("phone", PHONE)):
            await page.set_viewport_size(size)  # type: ignore[arg-type]
            await page.screenshot(path=SCREENSHOTS / f"{name}-{label}.png", full_page=True)
        await page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]

    return take
