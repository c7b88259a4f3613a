"""An account's mailbox in the console (#16, G1, G4): fetched mail newest first, paged, searched by
sender and subject; one message shown safely (mail_view.py); its attachments; "Fetch now"; the
outbox with each mail's state and SMTP reply; compose and send. All through the API.

GET  /console/mail-accounts/<id>/mailbox[?search=&cursor=]        the fetched mail
POST /console/mail-accounts/<id>/fetch                            G4: fetch now
GET  /console/mail-accounts/<id>/messages/<mid>[?remote=1]        one message
GET  /console/mail-accounts/<id>/messages/<mid>/body[?remote=1]   its HTML, sandboxed (CSP)
GET  /console/mail-accounts/<id>/messages/<mid>/attachments/<n>   an attachment, downloaded
GET  /console/mail-accounts/<id>/outbox[?cursor=]                 sent and queued mail
GET|POST /console/mail-accounts/<id>/compose                      write and send
"""

import base64
import re
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from mailbridge.config_api.console.account_forms import short_time
from mailbridge.config_api.console.account_lookup import find_account
from mailbridge.config_api.console.api_client import ConsoleApi, api_for
from mailbridge.config_api.console.i18n import Translator
from mailbridge.config_api.console.mail_view import (
    DOWNLOAD_TYPE,
    attachment,
    frame_csp,
    frame_document,
    has_remote_content,
    parse,
    safe_html,
)
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
from starlette.datastructures import UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response

HOME = f"{BASE}/mail-accounts"
PAGE_SIZE = 25
COMPOSE_FIELDS = ("to", "cc", "bcc", "subject", "text")
ADDRESS_SPLIT = re.compile(r"[,;\s]+")
FRAME_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)


async def _account(
    request: Request, api: ConsoleApi, session: ConsoleSession, account_id: str
) -> dict[str, Any] | Response:
    """The account as the key may see it, or the page saying why not."""
    found = await find_account(request, api, session, account_id)
    return found if isinstance(found, Response) else found.body


@router.get(HOME + "/{account_id}/mailbox", name="console_mailbox")
async def mailbox(request: Request, account_id: str, search: str = "", cursor: str | None = None) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    t = translator(request)
    async with api_for(request, session.api_key) as api:
        account = await _account(request, api, session, account_id)
        if isinstance(account, Response):
            return account
        params: dict[str, Any] = {"newest_first": "true", "limit": PAGE_SIZE}
        if search.strip():
            params["search"] = search.strip()
        if cursor:
            params["cursor"] = cursor
        answer = await api.get(f"/mail-accounts/{account_id}/messages", **params)
        if answer.status_code != 200:
            return refused(request, session, answer.status_code, problem_detail(answer))
        state = await api.get(f"/mail-accounts/{account_id}/fetch-state")
        settings = await api.get("/settings/mail")
        mail_settings = settings.json() if settings.status_code == 200 else {}
        restricted = manual_fetch_restricted(mail_settings)
        # G4 binds users, not admins; only an admin key may list the users.
        admin = restricted and (await api.get("/users", limit=1)).status_code == 200
    page = answer.json()
    fetch_state = state.json() if state.status_code == 200 else {}
    rows = [
        {
            "href": f"{HOME}/{account_id}/messages/{m['id']}",
            "from": m.get("from_address") or "—",
            "subject": m.get("subject") or t("ui.mail.no_subject"),
            "date": short_time(m.get("sent_date") or m.get("fetched_at")),
            "seen": bool(m.get("seen")),
            "attachments": bool(m.get("has_attachments")),
        }
        for m in page["items"]
    ]
    query = f"&search={quote(search.strip())}" if search.strip() else ""
    context = {
        "title": t("screen.mailbox.title", address=account["address"]),
        "account": account,
        "account_href": f"{HOME}/{account_id}",
        "rows": rows,
        "search": search,
        "next_href": f"{HOME}/{account_id}/mailbox?cursor={page['next_cursor']}{query}"
        if page.get("next_cursor")
        else None,
        "first_href": f"{HOME}/{account_id}/mailbox" + (f"?search={quote(search.strip())}" if query else "")
        if cursor
        else None,
        "fetch_action": f"{HOME}/{account_id}/fetch",
        "can_fetch": bool(account.get("can_receive")) and (not restricted or admin),
        "restricted": restricted,
        "fetch_state": {
            "status": str(fetch_state.get("status") or "never"),
            "finished": short_time(fetch_state.get("last_finished_at")),
            "reason": fetch_state.get("reason") or "",
        },
        "fetch_requested": bool(request.query_params.get("fetching")),
        "links": _links(account_id),
    }
    return render(request, "mailbox.html", context, session=session)


def manual_fetch_restricted(mail_settings: dict[str, Any]) -> bool:
    """G4: "no manual fetch" holds while a schedule (G2) exists."""
    return (
        bool(mail_settings.get("disallow_manual_fetch"))
        and mail_settings.get("fetch_interval_minutes") is not None
    )


def _links(account_id: str) -> dict[str, str]:
    base = f"{HOME}/{account_id}"
    return {
        "account": base,
        "mailbox": f"{base}/mailbox",
        "outbox": f"{base}/outbox",
        "compose": f"{base}/compose",
    }


@router.post(HOME + "/{account_id}/fetch", name="console_fetch_now")
async def fetch_now(request: Request, account_id: str) -> Response:
    """G4: "Fetch now", as far as the API allows it (403 when manual fetching is switched off)."""
    post = await posted(request)
    if isinstance(post, Response):
        return post
    if parse_id(account_id) is None:
        return refused(request, post.session, 404, account_id)
    async with api_for(request, post.session.api_key) as api:
        answer = await api.post(f"/mail-accounts/{account_id}/fetch")
    if answer.status_code != 202:
        return refused(request, post.session, answer.status_code, problem_detail(answer))
    return RedirectResponse(f"{HOME}/{account_id}/mailbox?fetching=1", status_code=303)


async def _message(
    request: Request, api: ConsoleApi, session: ConsoleSession, account_id: str, message_id: str
) -> tuple[dict[str, Any], bytes] | Response:
    """The message (its summary and raw bytes) when it is this account's and the key may read it."""
    if parse_id(account_id) is None or parse_id(message_id) is None:
        return refused(request, session, 404, message_id)
    summary = await api.get(f"/messages/{message_id}")
    if summary.status_code != 200:
        return refused(request, session, summary.status_code, problem_detail(summary))
    found: dict[str, Any] = summary.json()
    if str(found["account_id"]) != account_id:
        return refused(request, session, 404, message_id)
    raw = await api.get(f"/messages/{message_id}/raw")
    if raw.status_code != 200:
        return refused(request, session, raw.status_code, problem_detail(raw))
    return found, raw.content


@router.get(HOME + "/{account_id}/messages/{message_id}", name="console_message")
async def message_page(request: Request, account_id: str, message_id: str, remote: bool = False) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        found = await _message(request, api, session, account_id, message_id)
    if isinstance(found, Response):
        return found
    summary, raw = found
    t = translator(request)
    view = parse(raw)
    base = f"{HOME}/{account_id}/messages/{message_id}"
    context = {
        "title": view.subject or t("ui.mail.no_subject"),
        "mail": view,
        "summary": summary,
        "fetched": short_time(summary.get("fetched_at")),
        "frame_src": f"{base}/body" + ("?remote=1" if remote else "") if view.html is not None else None,
        "remote": remote,
        "has_remote": view.html is not None and has_remote_content(view.html),
        "remote_href": f"{base}?remote=1",
        "attachment_base": f"{base}/attachments",
        "links": _links(account_id),
    }
    return render(request, "message.html", context, session=session)


@router.get(HOME + "/{account_id}/messages/{message_id}/body", name="console_message_body")
async def message_body(request: Request, account_id: str, message_id: str, remote: bool = False) -> Response:
    """The mail's HTML, sanitized, as its own document: shown in `<iframe sandbox>` and served with
    a CSP that runs nothing and loads nothing remote unless `remote`."""
    session = session_of(request)
    if session is None:
        return Response(status_code=401)
    async with api_for(request, session.api_key) as api:
        found = await _message(request, api, session, account_id, message_id)
    if isinstance(found, Response):
        return found
    html = parse(found[1]).html or ""
    headers = FRAME_HEADERS | {"Content-Security-Policy": frame_csp(remote)}
    return HTMLResponse(frame_document(safe_html(html, remote)), headers=headers)


@router.get(HOME + "/{account_id}/messages/{message_id}/attachments/{index}", name="console_attachment")
async def download(request: Request, account_id: str, message_id: str, index: int) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        found = await _message(request, api, session, account_id, message_id)
    if isinstance(found, Response):
        return found
    part = attachment(found[1], index)
    if part is None:
        return refused(request, session, 404, str(index))
    filename, data = part
    headers = FRAME_HEADERS | {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return Response(data, media_type=DOWNLOAD_TYPE, headers=headers)


@router.get(HOME + "/{account_id}/outbox", name="console_outbox")
async def outbox(request: Request, account_id: str, cursor: str | None = None) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    t = translator(request)
    async with api_for(request, session.api_key) as api:
        account = await _account(request, api, session, account_id)
        if isinstance(account, Response):
            return account
        params: dict[str, Any] = {"account_id": account_id, "newest_first": "true", "limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        answer = await api.get("/outbox", **params)
    if answer.status_code != 200:
        return refused(request, session, answer.status_code, problem_detail(answer))
    page = answer.json()
    rows = [_outbox_row(t, item) for item in page["items"]]
    context = {
        "title": t("screen.outbox.title", address=account["address"]),
        "account": account,
        "rows": rows,
        "queued": request.query_params.get("queued"),
        "next_href": f"{HOME}/{account_id}/outbox?cursor={page['next_cursor']}"
        if page.get("next_cursor")
        else None,
        "links": _links(account_id),
    }
    return render(request, "outbox.html", context, session=session)


def _outbox_row(t: Translator, item: dict[str, Any]) -> dict[str, Any]:
    sent = item.get("request") or {}
    recipients = [
        {"address": address, "state": str(found.get("state")), "reply": str(found.get("reply") or "")}
        for address, found in (item.get("recipient_states") or {}).items()
    ]
    status = str(item.get("status") or "")
    return {
        "id": str(item["id"]),
        "to": ", ".join(str(a) for a in (sent.get("to") or [])) or "—",
        "subject": str(sent.get("subject") or "") or t("ui.mail.no_subject"),
        "status": status,
        "status_text": t.first(f"enum.OutboxStatus.{status}", default=status),
        "attempts": f"{item.get('attempts', 0)}/{item.get('max_attempts', 0)}",
        "reply": str(item.get("last_reply") or "—"),
        "when": short_time(item.get("sent_at") or item.get("created_at")),
        "next_attempt": short_time(item.get("next_attempt_at")) if item.get("next_attempt_at") else "",
        "recipients": recipients,
    }


@router.get(HOME + "/{account_id}/compose", name="console_compose")
async def compose_page(request: Request, account_id: str) -> Response:
    session = session_of(request)
    if session is None:
        return to_sign_in(request)
    async with api_for(request, session.api_key) as api:
        account = await _account(request, api, session, account_id)
    if isinstance(account, Response):
        return account
    values = dict.fromkeys(COMPOSE_FIELDS, "")
    return _compose_form(request, session, account, values, {}, [])


@router.post(HOME + "/{account_id}/compose", name="console_send")
async def send(request: Request, account_id: str) -> Response:
    """Queue the mail through the API (JSON, attachments in base64); the form's own idempotency
    key makes a second click on "Send" the same mail, not a second one."""
    post = await posted(request)
    if isinstance(post, Response):
        return post
    values = {name: str(post.form.get(name) or "") for name in COMPOSE_FIELDS}
    files = [f for f in post.form.getlist("attachments") if isinstance(f, UploadFile) and f.filename]
    body: dict[str, Any] = {
        "to": addresses(values["to"]), "cc": addresses(values["cc"]), "bcc": addresses(values["bcc"]),
        "subject": values["subject"], "text": values["text"],
        "attachments": [
            {
                "filename": f.filename, "content_type": f.content_type or DOWNLOAD_TYPE,
                "content_base64": base64.b64encode(await f.read()).decode(),
            }
            for f in files
        ],
    }  # fmt: skip
    key = str(post.form.get("idempotency_key") or "") or secrets.token_urlsafe(16)
    async with api_for(request, post.session.api_key) as api:
        account = await _account(request, api, post.session, account_id)
        if isinstance(account, Response):
            return account
        answer = await api.post(f"/mail-accounts/{account_id}/messages", body, idempotency_key=key)
    if answer.status_code == 202:
        return RedirectResponse(f"{HOME}/{account_id}/outbox?queued={answer.json()['id']}", status_code=303)
    if answer.status_code not in (409, 413, 422):
        return refused(request, post.session, answer.status_code, problem_detail(answer))
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    problem = answer.json()
    for error in problem.get("errors") or []:
        head = str(error.get("field", "")).split(".", 1)[0]
        message = str(error.get("message", ""))
        if head in COMPOSE_FIELDS or head == "attachments":
            errors.setdefault(head, []).append(message)
        else:
            general.append(message)
    if not problem.get("errors"):
        general.append(problem_detail(answer))
    return _compose_form(
        request, post.session, account, values, errors, general, key=key, status_code=answer.status_code
    )


def addresses(text: str) -> list[str]:
    """Addresses as typed, separated by commas, semicolons, spaces or lines; the API judges each."""
    return [part for part in ADDRESS_SPLIT.split(text) if part]


def _compose_form(
    request: Request,
    session: ConsoleSession,
    account: dict[str, Any],
    values: dict[str, str],
    errors: dict[str, list[str]],
    general: list[str],
    key: str | None = None,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    context = {
        "title": t("screen.compose.title", address=account["address"]),
        "account": account,
        "values": values,
        "errors": errors,
        "general": general,
        "idempotency_key": key or secrets.token_urlsafe(16),
        "action": f"{HOME}/{account['id']}/compose",
        "may_send": bool(account.get("can_send")),
        "links": _links(str(account["id"])),
    }
    return render(request, "compose.html", context, status_code=status_code, session=session)
