"""The mail account screens (A1–A12, O4, T1): list with each account's health, new, edit, delete,
"Connect", "Test credentials" and the out-of-office, all through the API as the session's key.

GET  /console/mail-accounts[?owner=user:<id>]   the accounts (of one user or group), health at a glance
GET  /console/mail-accounts/new[?owner=…]       an empty form
POST /console/mail-accounts/new                 create; 422 → the form again, errors beside fields
GET  /console/mail-accounts/<id>                the account: its form, health, connection, last test
POST /console/mail-accounts/<id>                PATCH with If-Match; 412 → "changed by someone else"
GET|POST /console/mail-accounts/<id>/delete     delete with If-Match
POST /console/mail-accounts/<id>/connect        O4: to the provider's sign-in
POST /console/mail-accounts/<id>/test           T1: starts (or joins) a test, waits a while for it
GET  /console/mail-accounts/<id>/tests/<test>   T1: the step report (or "still running")
GET|POST /console/mail-accounts/<id>/out-of-office   A12
"""

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from mailbridge.config_api.console.account_forms import (
    ACCOUNT_FIELDS,
    ACCOUNT_SCHEMA,
    OUT_OF_OFFICE_SCHEMA,
    OWNER,
    account_body,
    account_values,
    health_view,
    owner_choices,
    owner_of,
    short_time,
    with_owner_choice,
)
from mailbridge.config_api.console.account_lookup import find_account
from mailbridge.config_api.console.api_client import ConsoleApi, api_for
from mailbridge.config_api.console.form_page import display, field_views, reference_choices, schema_fields
from mailbridge.config_api.console.forms import (
    FormField,
    FormState,
    apply_problem,
    body_of,
    initial_values,
    submitted_values,
)
from mailbridge.config_api.console.i18n import Translator
from mailbridge.config_api.console.pages import (
    BASE,
    parse_id,
    posted,
    problem_detail,
    refused,
    render,
    session_of,
    to_sign_in,
    translator,
)
from mailbridge.config_api.console.session import ConsoleSession
from starlette.responses import RedirectResponse, Response

SLUG = "mail-accounts"
HOME = f"{BASE}/{SLUG}"
API = "/mail-accounts"
REQUIREMENTS = "A1–A12, O4, T1"
TEST_WAIT_S = 30.0  # how long "Test credentials" waits for the report before showing "running"
TEST_POLL_S = 0.5

router = APIRouter(include_in_schema=False)


def _fields(request: Request) -> list[FormField]:
    return with_owner_choice(schema_fields(request.app, ACCOUNT_SCHEMA, ACCOUNT_FIELDS))


async def _names(api: ConsoleApi, path: str, label: str = "name") -> dict[str, str]:
    return {str(item["id"]): str(item.get(label) or item["id"]) for item in await api.all_items(path)}


@router.get(HOME, name="console_mail_accounts_list")
async def list_page(request: Request, cursor: str | None = None, owner: str | None = None) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    t = translator(request)
    chosen = owner_of(owner or "")
    path = f"/{chosen['type']}s/{chosen['id']}/mail-accounts" if chosen else API
    async with api_for(request, session.api_key) as api:
        answer = await api.get(path, **({"cursor": cursor} if cursor else {}))
        if answer.status_code != 200:
            return refused(request, session, answer.status_code, problem_detail(answer))
        user_items, group_items = await api.all_items("/users"), await api.all_items("/groups")
        users = {str(u["id"]): str(u.get("name") or u["id"]) for u in user_items}
        groups = {str(g["id"]): str(g.get("name") or g["id"]) for g in group_items}
        servers = await _names(api, "/mail-servers")
    page = answer.json()
    rows = []
    for item in page["items"]:
        health = health_view(t, item.get("health"))
        owner_item = item.get(OWNER) or {}
        owners = users if owner_item.get("type") == "user" else groups
        rows.append(
            {
                "href": f"{HOME}/{item['id']}",
                "address": item["address"],
                "owner": owners.get(str(owner_item.get("id")), str(owner_item.get("id", "—"))),
                "server": servers.get(str(item["server_id"]), str(item["server_id"])),
                "health": health,
            }
        )
    query = f"&owner={owner}" if chosen else ""
    context = {
        "title": t("screen.mail-accounts.title"),
        "requirements": REQUIREMENTS,
        "rows": rows,
        "owner_name": (users if chosen and chosen["type"] == "user" else groups).get(chosen["id"], "")
        if chosen
        else "",
        "next_href": f"{HOME}?cursor={page['next_cursor']}{query}" if page.get("next_cursor") else None,
        "new_href": f"{HOME}/new" + (f"?owner={owner}" if chosen else ""),
        "owners": owner_choices(t, user_items, group_items),
        "owner": owner if chosen else "",
        "flash": t("ui.deleted") if request.query_params.get("deleted") else None,
    }
    return render(request, "accounts_list.html", context, session=session)


@router.get(f"{HOME}/new", name="console_mail_accounts_new")
async def new_page(request: Request, owner: str | None = None) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    fields = _fields(request)
    values = initial_values(fields, None)
    values[OWNER] = owner if owner and owner_of(owner) else ""
    async with api_for(request, session.api_key) as api:
        return await _form(request, session, api, FormState(values), None, None)


@router.post(f"{HOME}/new", name="console_mail_accounts_create")
async def create(request: Request) -> Response:
    post = await posted(request)
    if isinstance(post, Response):
        return post
    fields = _fields(request)
    state = FormState(submitted_values(fields, post.form))
    async with api_for(request, post.session.api_key) as api:
        answer = await api.post(API, account_body(fields, state.values, editing=False))
        if answer.status_code == 201:
            return RedirectResponse(f"{HOME}/{answer.json()['id']}?saved=1", status_code=303)
        if answer.status_code not in (409, 422):
            return refused(request, post.session, answer.status_code, problem_detail(answer))
        apply_problem(state, answer.json(), fields)
        return await _form(request, post.session, api, state, None, None, status_code=answer.status_code)


@router.get(HOME + "/{account_id}", name="console_mail_accounts_edit")
async def edit_page(request: Request, account_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        found = await find_account(request, api, session, account_id)
        if isinstance(found, Response):
            return found
        fields = _fields(request)
        state = FormState(account_values(initial_values(fields, found.body), found.body))
        return await _form(request, session, api, state, found.body, found.etag)


@router.post(HOME + "/{account_id}", name="console_mail_accounts_update")
async def update(request: Request, account_id: str) -> Response:
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    fields = _fields(request)
    state = FormState(submitted_values(fields, post.form))
    async with api_for(request, post.session.api_key) as api:
        body = account_body(fields, state.values, editing=True)
        answer = await api.patch(f"{API}/{account_id}", body, if_match=post.etag)
        if answer.status_code == 200:
            return RedirectResponse(f"{HOME}/{account_id}?saved=1", status_code=303)
        if answer.status_code not in (409, 412, 422):
            return refused(request, post.session, answer.status_code, problem_detail(answer))
        current_answer = await api.get(f"{API}/{account_id}")
        if current_answer.status_code != 200:
            return refused(request, post.session, current_answer.status_code, problem_detail(current_answer))
        stale = answer.status_code == 412
        if not stale:
            apply_problem(state, answer.json(), fields)
        return await _form(
            request, post.session, api, state, current_answer.json(), post.etag,
            stale=stale, status_code=answer.status_code,
        )  # fmt: skip


async def _form(
    request: Request,
    session: ConsoleSession,
    api: ConsoleApi,
    state: FormState,
    current: dict[str, Any] | None,
    etag: str | None,
    stale: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    fields = _fields(request)
    references = await reference_choices(api, fields)
    references[OWNER] = owner_choices(t, await api.all_items("/users"), await api.all_items("/groups"))
    editing = current is not None
    item_id = current["id"] if current else None
    context: dict[str, Any] = {
        "title": t("screen.mail-accounts.edit" if editing else "screen.mail-accounts.new"),
        "screen": {"requirements": REQUIREMENTS},
        "fields": field_views(t, SLUG, fields, state, references),
        "general": state.general,
        "action": f"{HOME}/{item_id}" if editing else f"{HOME}/new",
        "etag": etag or "",
        "stale": stale,
        "reload_href": f"{HOME}/{item_id}" if editing else None,
        "delete_href": f"{HOME}/{item_id}/delete" if editing else None,
        "list_href": HOME,
        "saved": bool(request.query_params.get("saved")) and status_code == 200,
        "info": [],
        "has_errors": bool(state.errors or state.general or stale),
        "account": _account_view(t, current) if current else None,
    }
    return render(request, "account.html", context, status_code=status_code, session=session)


def _account_view(t: Translator, current: dict[str, Any]) -> dict[str, Any]:
    base = f"{HOME}/{current['id']}"
    oauth = str(current.get("oauth_status") or "not_required")
    last = current.get("last_test")
    return {
        "id": current["id"],
        "address": current["address"],
        "health": health_view(t, current.get("health")),
        "oauth": oauth,
        "oauth_text": t.first(f"enum.OAuthStatus.{oauth}", default=oauth),
        "oauth_reason": current.get("oauth_reason") or "",
        "last_test": _report_view(t, last) if last else None,
        "can_send": bool(current.get("can_send")),
        "can_receive": bool(current.get("can_receive")),
        "links": {
            "account": base,
            "mailbox": f"{base}/mailbox",
            "outbox": f"{base}/outbox",
            "compose": f"{base}/compose",
            "out_of_office": f"{base}/out-of-office",
            "test": f"{base}/test",
            "connect": f"{base}/connect",
        },
    }


def _report_view(t: Translator, report: dict[str, Any]) -> dict[str, Any]:
    steps = [
        {
            "step": t.first(f"enum.Step.{s['step']}", default=str(s["step"])),
            "status": str(s["status"]),
            "status_text": t.first(f"enum.Status.{s['status']}", default=str(s["status"])),
            "message": str(s.get("message") or ""),
            "code": str(s.get("code") or ""),
        }
        for s in report.get("steps") or []
    ]
    return {
        "ok": bool(report.get("ok")),
        "steps": steps,
        "finished_at": short_time(report.get("finished_at")),
    }


@router.get(HOME + "/{account_id}/delete", name="console_mail_accounts_delete_page")
async def delete_page(request: Request, account_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        found = await find_account(request, api, session, account_id)
    if isinstance(found, Response):
        return found
    return _delete_form(request, session, found.body, found.etag)


@router.post(HOME + "/{account_id}/delete", name="console_mail_accounts_delete")
async def delete(request: Request, account_id: str) -> Response:
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    async with api_for(request, post.session.api_key) as api:
        answer = await api.delete(f"{API}/{account_id}", if_match=post.etag)
        if answer.status_code == 204:
            return RedirectResponse(f"{HOME}?deleted=1", status_code=303)
        if answer.status_code not in (409, 412):
            return refused(request, post.session, answer.status_code, problem_detail(answer))
        current = await api.get(f"{API}/{account_id}")
    if current.status_code != 200:
        return refused(request, post.session, current.status_code, problem_detail(current))
    return _delete_form(
        request, post.session, current.json(), post.etag, detail=problem_detail(answer),
        stale=answer.status_code == 412, status_code=answer.status_code,
    )  # fmt: skip


def _delete_form(
    request: Request,
    session: ConsoleSession,
    current: dict[str, Any],
    etag: str | None,
    detail: str | None = None,
    stale: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    context = {
        "title": t("screen.mail-accounts.delete"),
        "name": current["address"],
        "action": f"{HOME}/{current['id']}/delete",
        "back_href": f"{HOME}/{current['id']}",
        "etag": etag or "",
        "detail": detail,
        "blockers": [],
        "stale": stale,
    }
    return render(request, "delete.html", context, status_code=status_code, session=session)


@router.post(HOME + "/{account_id}/connect", name="console_mail_accounts_connect")
async def connect(request: Request, account_id: str) -> Response:
    """O4: the API starts the flow; the browser goes to the provider's sign-in. The provider sends
    it back to /oauth/callback, whose page links back to this account's page (its state)."""
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    async with api_for(request, post.session.api_key) as api:
        answer = await api.post(f"{API}/{account_id}/oauth/connect")
    if answer.status_code != 200:
        return refused(request, post.session, answer.status_code, problem_detail(answer))
    return RedirectResponse(str(answer.json()["authorization_url"]), status_code=303)


@router.post(HOME + "/{account_id}/test", name="console_mail_accounts_test")
async def run_test(request: Request, account_id: str) -> Response:
    """T1: start the test (or join the running one), wait up to TEST_WAIT_S for its report, then
    show the run's page (the report, or "still running" with a link to look again)."""
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    async with api_for(request, post.session.api_key) as api:
        answer = await api.post(f"{API}/{account_id}/test?async=true")
        if answer.status_code != 202:
            return refused(request, post.session, answer.status_code, problem_detail(answer))
        test_id = answer.json()["id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TEST_WAIT_S
        while loop.time() < deadline:
            run = await api.get(f"{API}/{account_id}/tests/{test_id}")
            if run.status_code != 200 or run.json()["status"] == "finished":
                break
            await asyncio.sleep(TEST_POLL_S)
    return RedirectResponse(f"{HOME}/{account_id}/tests/{test_id}", status_code=303)


@router.get(HOME + "/{account_id}/tests/{test_id}", name="console_mail_accounts_test_run")
async def test_run(request: Request, account_id: str, test_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    if parse_id(test_id) is None:
        return refused(request, session, 404, test_id)
    async with api_for(request, session.api_key) as api:
        account = await find_account(request, api, session, account_id)
        if isinstance(account, Response):
            return account
        run = await api.get(f"{API}/{account_id}/tests/{test_id}")
    if run.status_code != 200:
        return refused(request, session, run.status_code, problem_detail(run))
    t = translator(request)
    found = run.json()
    context = {
        "title": t("screen.mail-accounts.test"),
        "address": account.body["address"],
        "running": found["status"] != "finished",
        "report": _report_view(t, found["report"]) if found.get("report") else None,
        "again_href": f"{HOME}/{account_id}/tests/{test_id}",
        "account_href": f"{HOME}/{account_id}",
        "test_action": f"{HOME}/{account_id}/test",
    }
    return render(request, "account_test.html", context, session=session)


@router.get(HOME + "/{account_id}/out-of-office", name="console_mail_accounts_out_of_office")
async def out_of_office_page(request: Request, account_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    if parse_id(account_id) is None:
        return refused(request, session, 404, account_id)
    async with api_for(request, session.api_key) as api:
        answer = await api.get(f"{API}/{account_id}/out-of-office")
    if answer.status_code != 200:
        return refused(request, session, answer.status_code, problem_detail(answer))
    fields = schema_fields(request.app, OUT_OF_OFFICE_SCHEMA)
    current = answer.json()
    return _out_of_office_form(
        request, session, account_id, FormState(initial_values(fields, current)), current
    )


@router.post(HOME + "/{account_id}/out-of-office", name="console_mail_accounts_out_of_office_save")
async def out_of_office_save(request: Request, account_id: str) -> Response:
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    fields = schema_fields(request.app, OUT_OF_OFFICE_SCHEMA)
    state = FormState(submitted_values(fields, post.form))
    async with api_for(request, post.session.api_key) as api:
        answer = await api.put(
            f"{API}/{account_id}/out-of-office", body_of(fields, state.values, editing=False)
        )
        if answer.status_code == 200:
            return RedirectResponse(f"{HOME}/{account_id}/out-of-office?saved=1", status_code=303)
        if answer.status_code not in (403, 409, 422):
            return refused(request, post.session, answer.status_code, problem_detail(answer))
        apply_problem(state, answer.json(), fields)
        current = await api.get(f"{API}/{account_id}/out-of-office")
    current_body = current.json() if current.status_code == 200 else {}
    return _out_of_office_form(
        request, post.session, account_id, state, current_body, status_code=answer.status_code
    )


def _out_of_office_form(
    request: Request,
    session: ConsoleSession,
    account_id: str,
    state: FormState,
    current: dict[str, Any],
    status_code: int = 200,
) -> Response:
    t = translator(request)
    fields = schema_fields(request.app, OUT_OF_OFFICE_SCHEMA)
    info = [
        (t("field.out-of-office.active"), display(t, current.get("active")), t("help.out-of-office.active")),
        (
            t("field.out-of-office.may_set"),
            display(t, current.get("may_set")),
            t("help.out-of-office.may_set"),
        ),
    ]
    context = {
        "title": t("screen.out-of-office.title"),
        "screen": {"requirements": "A12"},
        "fields": field_views(t, "out-of-office", fields, state, {}),
        "general": state.general,
        "action": f"{HOME}/{account_id}/out-of-office",
        "etag": "",
        "stale": False,
        "reload_href": None,
        "delete_href": None,
        "list_href": None,
        "back_href": f"{HOME}/{account_id}",
        "saved": bool(request.query_params.get("saved")) and status_code == 200,
        "info": info,
        "has_errors": bool(state.errors or state.general),
    }
    return render(request, "out_of_office.html", context, status_code=status_code, session=session)
