"""What every console page shares: the templates, the session and language of a request, the
navigation, CSRF checks, and the pages for the API's refusals (401, 403, 404)."""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.templating import Jinja2Templates
from mailbridge.common.secrets import SecretBox
from mailbridge.config_api.console.i18n import LANGUAGES, Translator, pick_language
from mailbridge.config_api.console.session import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    ConsoleSession,
    clear_cookie,
    tokens_match,
    unseal,
)
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

BASE = "/console"
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


@dataclass(frozen=True)
class NavItem:
    slug: str  # the page is /console/<slug>; its label is `screen.<slug>.title`
    # What the screen reads from the API (GET, ?limit=1): a key sees the item when the API lets it.
    probe: str


# The navigation, in order; a new screen appends its item here.
NAV: list[NavItem] = [
    NavItem("mail-servers", "/mail-servers"),
    NavItem("mail-settings", "/settings/mail"),
    NavItem("oauth-providers", "/oauth-providers"),
    NavItem("users", "/users"),
    NavItem("groups", "/groups"),
    NavItem("business-units", "/business-units"),
    NavItem("mail-accounts", "/mail-accounts"),
]


def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.context.secrets
    return box


def session_of(request: Request) -> ConsoleSession | None:
    return unseal(secret_box(request), request.cookies.get(SESSION_COOKIE))


def translator(request: Request) -> Translator:
    return Translator(
        pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    )


def here(request: Request) -> str:
    """This page's path and query, for coming back to it (after sign-in, a language switch)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(target: str | None) -> str:
    """Only a console page: never a redirect to another site."""
    if target and target.startswith(BASE) and not target.startswith("//") and "\\" not in target:
        return target
    return BASE


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    session: ConsoleSession | None = None,
) -> Response:
    t = translator(request)
    path = request.url.path
    nav = [
        {
            "href": f"{BASE}/{item.slug}",
            "label": t(f"screen.{item.slug}.title"),
            "current": path == f"{BASE}/{item.slug}" or path.startswith(f"{BASE}/{item.slug}/"),
        }
        for item in NAV
        if session is None or item.slug in session.screens
    ]
    languages = [
        {"code": code, "href": f"{BASE}/language/{code}?next={quote(here(request), safe='')}"}
        for code in LANGUAGES
    ]
    page = {
        "request": request,
        "t": t,
        "lang": t.language,
        "languages": languages,
        "signed_in": session is not None,
        "csrf": session.csrf if session else "",
        "nav": nav,
        "base": BASE,
    } | context
    return templates.TemplateResponse(request, template, page, status_code=status_code)


def to_sign_in(request: Request) -> Response:
    return RedirectResponse(f"{BASE}/sign-in?next={quote(here(request), safe='')}", status_code=303)


def csrf_ok(session: ConsoleSession, form: Any) -> bool:
    return tokens_match(session.csrf, form.get("csrf"))


@dataclass(frozen=True)
class Posted:
    """A POSTed console form with its session, its CSRF token checked."""

    session: ConsoleSession
    form: FormData

    @property
    def etag(self) -> str | None:
        """The version the form was made from (its hidden `etag`), for If-Match."""
        return str(self.form.get("etag", "")) or None


async def posted(request: Request) -> Posted | Response:
    """The form of a POST, or the answer instead: to sign-in without a session, 403 when the
    form lacks this session's CSRF token."""
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    form = await request.form()
    if not csrf_ok(session, form):
        return csrf_refused(request, session)
    return Posted(session, form)


def refused(request: Request, session: ConsoleSession, status: int, detail: str) -> Response:
    """The API said no: 401 (the key no longer works: sign in again), 403, 404, anything else."""
    if status == 401:
        response = to_sign_in(request)
        clear_cookie(request, response, SESSION_COOKIE)
        return response
    t = translator(request)
    title = {403: t("ui.forbidden"), 404: t("ui.not_found")}.get(status, t("ui.error"))
    context = {"title": title, "detail": detail, "status": status}
    return render(request, "refused.html", context, status_code=status, session=session)


def csrf_refused(request: Request, session: ConsoleSession | None) -> Response:
    t = translator(request)
    context = {"title": t("ui.forbidden"), "detail": t("ui.csrf_refused"), "status": 403}
    return render(request, "refused.html", context, status_code=403, session=session)


def problem_detail(response: Any) -> str:
    try:
        body = response.json()
        return str(body.get("detail") or body.get("title") or response.status_code)
    except ValueError:
        return str(response.status_code)


def parse_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
