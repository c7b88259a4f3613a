"""The console's router: sign-in, sign-out, the language switch, the e-mail settings (G1–G6) and
the resource screens of screens.py. `install(app)` mounts it and its static files."""

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from mailbridge.config_api.console import accounts, mailbox_routes
from mailbridge.config_api.console.api_client import api_for
from mailbridge.config_api.console.form_page import field_views, schema_fields
from mailbridge.config_api.console.forms import (
    FormState,
    apply_problem,
    body_of,
    initial_values,
    submitted_values,
)
from mailbridge.config_api.console.i18n import LANGUAGES
from mailbridge.config_api.console.pages import (
    BASE,
    HERE,
    NAV,
    csrf_ok,
    csrf_refused,
    posted,
    problem_detail,
    refused,
    render,
    safe_next,
    secret_box,
    session_of,
    to_sign_in,
    translator,
)
from mailbridge.config_api.console.resource_routes import add_resource_screen
from mailbridge.config_api.console.screens import MAIL_SETTINGS_PATH, MAIL_SETTINGS_SCHEMA, RESOURCE_SCREENS
from mailbridge.config_api.console.session import (
    LANGUAGE_COOKIE,
    LANGUAGE_MAX_AGE_S,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_MAX_AGE_S,
    ConsoleSession,
    clear_cookie,
    new_token,
    seal,
    set_cookie,
    tokens_match,
)
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

STATIC_PATH = f"{BASE}/static"
# Any key may read the e-mail settings (the app needs G1, G3): signing in checks the key there.
KEY_CHECK_PATH = MAIL_SETTINGS_PATH

router = APIRouter(include_in_schema=False)


@router.get(BASE, name="console_home")
async def home(request: Request) -> Response:
    """The first screen the key may open."""
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    if not session.screens:
        t = translator(request)
        return refused(request, session, 403, t("ui.no_screens"))
    return RedirectResponse(f"{BASE}/{session.screens[0]}", status_code=303)


@router.get(f"{BASE}/sign-in", name="console_sign_in_page")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_form(request, safe_next(next))


@router.post(f"{BASE}/sign-in", name="console_sign_in")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    target = safe_next(str(form.get("next") or ""))
    if not tokens_match(request.cookies.get(SIGN_IN_COOKIE), str(form.get("csrf") or "")):
        return csrf_refused(request, None)
    api_key = str(form.get("api_key") or "").strip()
    t = translator(request)
    if not api_key:
        return _sign_in_form(request, target, t("ui.key_missing"), status_code=422)
    async with api_for(request, api_key) as api:
        answer = await api.get(KEY_CHECK_PATH)
        if answer.status_code == 401:
            return _sign_in_form(request, target, t("ui.key_refused"), status_code=401)
        if answer.status_code != 200:
            return _sign_in_form(request, target, problem_detail(answer), status_code=answer.status_code)
        screens = tuple(
            [item.slug for item in NAV if (await api.get(item.probe, limit=1)).status_code == 200]
        )
    response = RedirectResponse(target, status_code=303)
    session = ConsoleSession(api_key, new_token(), screens=screens)
    set_cookie(request, response, SESSION_COOKIE, seal(secret_box(request), session))
    clear_cookie(request, response, SIGN_IN_COOKIE)
    return response


def _sign_in_form(
    request: Request, target: str, error: str | None = None, status_code: int = 200
) -> Response:
    token = new_token()
    t = translator(request)
    context = {"title": t("ui.sign_in"), "next": target, "sign_in_csrf": token, "error": error}
    response = render(request, "sign_in.html", context, status_code=status_code)
    set_cookie(request, response, SIGN_IN_COOKIE, token, max_age=SIGN_IN_MAX_AGE_S)
    return response


@router.post(f"{BASE}/sign-out", name="console_sign_out")
async def sign_out(request: Request) -> Response:
    session = session_of(request)
    if session is not None and not csrf_ok(session, await request.form()):
        return csrf_refused(request, session)
    response = RedirectResponse(f"{BASE}/sign-in", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get(f"{BASE}/language/{{code}}", name="console_language")
async def language(request: Request, code: str, next: str | None = None) -> Response:
    """The switch: a cookie that outranks the browser's Accept-Language (a preference only)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGUAGES:
        set_cookie(request, response, LANGUAGE_COOKIE, code, max_age=LANGUAGE_MAX_AGE_S)
    return response


@router.get(f"{BASE}/mail-settings", name="console_mail_settings")
async def mail_settings_page(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        answer = await api.get(MAIL_SETTINGS_PATH)
    if answer.status_code != 200:
        return refused(request, session, answer.status_code, problem_detail(answer))
    fields = schema_fields(request.app, MAIL_SETTINGS_SCHEMA)
    state = FormState(initial_values(fields, answer.json()))
    return _settings_form(request, session, state, answer.headers.get("etag"))


@router.post(f"{BASE}/mail-settings", name="console_mail_settings_update")
async def mail_settings_update(request: Request) -> Response:
    post = await posted(request)
    if isinstance(post, Response):
        return post
    session, etag = post.session, post.etag
    fields = schema_fields(request.app, MAIL_SETTINGS_SCHEMA)
    state = FormState(submitted_values(fields, post.form))
    async with api_for(request, session.api_key) as api:
        answer = await api.patch(
            MAIL_SETTINGS_PATH, body_of(fields, state.values, editing=True), if_match=etag
        )
    if answer.status_code == 200:
        return RedirectResponse(f"{BASE}/mail-settings?saved=1", status_code=303)
    if answer.status_code not in (412, 422):
        return refused(request, session, answer.status_code, problem_detail(answer))
    stale = answer.status_code == 412
    if not stale:
        apply_problem(state, answer.json(), fields)
    return _settings_form(request, session, state, etag, stale=stale, status_code=answer.status_code)


def _settings_form(
    request: Request,
    session: ConsoleSession,
    state: FormState,
    etag: str | None,
    stale: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    fields = schema_fields(request.app, MAIL_SETTINGS_SCHEMA)
    context = {
        "title": t("screen.mail-settings.title"),
        "screen": {"requirements": "G1–G6"},
        "fields": field_views(t, "mail-settings", fields, state, {}),
        "general": state.general,
        "action": f"{BASE}/mail-settings",
        "etag": etag or "",
        "stale": stale,
        "reload_href": f"{BASE}/mail-settings",
        "delete_href": None,
        "list_href": None,
        "saved": bool(request.query_params.get("saved")) and status_code == 200,
        "info": [],
        "has_errors": bool(state.errors or state.general or stale),
    }
    return render(request, "form.html", context, status_code=status_code, session=session)


for _screen in RESOURCE_SCREENS:
    add_resource_screen(router, _screen)


def install(app: FastAPI) -> list[BaseRoute]:
    """Mount the console on `app` (under /console, outside the API prefix and its keys); returns
    its routes (for the metrics' route templates)."""
    app.include_router(router)
    app.include_router(accounts.router)  # mail accounts (A1–A12, O4, T1)
    app.include_router(mailbox_routes.router)  # an account's mailbox, outbox and compose
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="console_static")
    return list(router.routes) + list(accounts.router.routes) + list(mailbox_routes.router.routes)
