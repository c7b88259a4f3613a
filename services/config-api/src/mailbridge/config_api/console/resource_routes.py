"""The pages of one resource screen (screens.py): list, new, edit, delete, each through the API.

GET  /console/<slug>                    the list (paged: ?cursor=)
GET  /console/<slug>/new                an empty form (the schema's defaults)
POST /console/<slug>/new                create; 422 → the form again, errors beside fields
GET  /console/<slug>/<id>               the edit form (the object's ETag in a hidden field)
POST /console/<slug>/<id>               PATCH with If-Match; 412 → "changed by someone else"
GET  /console/<slug>/<id>/delete        are you sure?
POST /console/<slug>/<id>/delete        DELETE with If-Match; 409 → names what still uses it
"""

from typing import Any

from fastapi import APIRouter, Request
from mailbridge.config_api.console.api_client import ConsoleApi, api_for
from mailbridge.config_api.console.form_page import display, field_views, reference_choices, schema_fields
from mailbridge.config_api.console.forms import (
    FormState,
    apply_problem,
    body_of,
    initial_values,
    submitted_values,
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
from mailbridge.config_api.console.screens import ResourceScreen
from mailbridge.config_api.console.session import ConsoleSession
from mailbridge.config_api.deps import public_url
from mailbridge.config_api.oauth_connect.redirect import redirect_uri
from starlette.responses import RedirectResponse, Response

FORM_ERRORS = (409, 422)


def add_resource_screen(router: APIRouter, screen: ResourceScreen) -> None:
    base = f"{BASE}/{screen.slug}"

    async def list_page(request: Request, cursor: str | None = None) -> Response:
        session = session_of(request)
        if session is None:
            return to_sign_in(request)
        async with api_for(request, session.api_key) as api:
            params = {"cursor": cursor} if cursor else {}
            answer = await api.get(screen.path, **params)
        if answer.status_code != 200:
            return refused(request, session, answer.status_code, problem_detail(answer))
        t = translator(request)
        page = answer.json()
        rows = [
            {"href": f"{base}/{item['id']}", "cells": [display(t, item.get(c)) for c in screen.columns]}
            for item in page["items"]
        ]
        headers = [t.first(f"field.{screen.slug}.{c}", f"field.{c}", default=c) for c in screen.columns]
        context = {
            "title": t(f"screen.{screen.slug}.title"),
            "screen": screen,
            "headers": headers,
            "rows": rows,
            "next_href": f"{base}?cursor={page['next_cursor']}" if page.get("next_cursor") else None,
            "new_href": f"{base}/new",
            "flash": t("ui.deleted") if request.query_params.get("deleted") else None,
        }
        return render(request, "list.html", context, session=session)

    async def new_page(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return to_sign_in(request)
        fields = schema_fields(request.app, screen.schema, screen.order)
        return await _form(request, session, screen, FormState(initial_values(fields, None)), None, None)

    async def create(request: Request) -> Response:
        post = await posted(request)
        if isinstance(post, Response):
            return post
        session, form = post.session, post.form
        fields = schema_fields(request.app, screen.schema, screen.order)
        state = FormState(submitted_values(fields, form))
        async with api_for(request, session.api_key) as api:
            answer = await api.post(screen.path, body_of(fields, state.values, editing=False))
            if answer.status_code == 201:
                return RedirectResponse(f"{base}/{answer.json()['id']}?saved=1", status_code=303)
            if answer.status_code not in FORM_ERRORS:
                return refused(request, session, answer.status_code, problem_detail(answer))
            apply_problem(state, answer.json(), fields)
            return await _form(
                request, session, screen, state, None, None, api=api, status_code=answer.status_code
            )

    async def edit_page(request: Request, item_id: str) -> Response:
        session = session_of(request)
        if session is None:
            return to_sign_in(request)
        if parse_id(item_id) is None:
            return refused(request, session, 404, item_id)
        async with api_for(request, session.api_key) as api:
            answer = await api.get(f"{screen.path}/{item_id}")
            if answer.status_code != 200:
                return refused(request, session, answer.status_code, problem_detail(answer))
            current = answer.json()
            fields = schema_fields(request.app, screen.schema, screen.order)
            state = FormState(initial_values(fields, current))
            return await _form(request, session, screen, state, current, answer.headers.get("etag"), api=api)

    async def update(request: Request, item_id: str) -> Response:
        post = await posted(request)
        if isinstance(post, Response):
            return post
        session, form = post.session, post.form
        if parse_id(item_id) is None:
            return refused(request, session, 404, item_id)
        fields = schema_fields(request.app, screen.schema, screen.order)
        state = FormState(submitted_values(fields, form))
        etag = post.etag
        async with api_for(request, session.api_key) as api:
            body = body_of(fields, state.values, editing=True)
            answer = await api.patch(f"{screen.path}/{item_id}", body, if_match=etag)
            if answer.status_code == 200:
                return RedirectResponse(f"{base}/{item_id}?saved=1", status_code=303)
            if answer.status_code not in (*FORM_ERRORS, 412):
                return refused(request, session, answer.status_code, problem_detail(answer))
            current_answer = await api.get(f"{screen.path}/{item_id}")
            current = current_answer.json() if current_answer.status_code == 200 else {"id": item_id}
            stale = answer.status_code == 412
            if not stale:
                apply_problem(state, answer.json(), fields)
            return await _form(
                request,
                session,
                screen,
                state,
                current,
                etag,
                api=api,
                stale=stale,
                status_code=answer.status_code,
            )

    async def delete_page(request: Request, item_id: str) -> Response:
        session = session_of(request)
        if session is None:
            return to_sign_in(request)
        async with api_for(request, session.api_key) as api:
            answer = await api.get(f"{screen.path}/{item_id}") if parse_id(item_id) else None
        if answer is None or answer.status_code != 200:
            status = 404 if answer is None else answer.status_code
            return refused(request, session, status, item_id if answer is None else problem_detail(answer))
        return _delete_form(request, session, screen, answer.json(), answer.headers.get("etag"))

    async def delete(request: Request, item_id: str) -> Response:
        post = await posted(request)
        if isinstance(post, Response):
            return post
        session = post.session
        if parse_id(item_id) is None:
            return refused(request, session, 404, item_id)
        etag = post.etag
        async with api_for(request, session.api_key) as api:
            answer = await api.delete(f"{screen.path}/{item_id}", if_match=etag)
            if answer.status_code == 204:
                return RedirectResponse(f"{base}?deleted=1", status_code=303)
            if answer.status_code not in (409, 412):
                return refused(request, session, answer.status_code, problem_detail(answer))
            current_answer = await api.get(f"{screen.path}/{item_id}")
            current = current_answer.json() if current_answer.status_code == 200 else {"id": item_id}
            blockers = await _named(api, screen, answer.json().get("blocking_ids") or [])
        return _delete_form(
            request,
            session,
            screen,
            current,
            etag,
            detail=problem_detail(answer),
            blockers=blockers,
            stale=answer.status_code == 412,
            status_code=answer.status_code,
        )

    router.add_api_route(base, list_page, methods=["GET"], name=f"console_{screen.slug}_list")
    router.add_api_route(f"{base}/new", new_page, methods=["GET"], name=f"console_{screen.slug}_new")
    router.add_api_route(f"{base}/new", create, methods=["POST"], name=f"console_{screen.slug}_create")
    router.add_api_route(
        f"{base}/{{item_id}}", edit_page, methods=["GET"], name=f"console_{screen.slug}_edit"
    )
    router.add_api_route(
        f"{base}/{{item_id}}", update, methods=["POST"], name=f"console_{screen.slug}_update"
    )
    router.add_api_route(
        f"{base}/{{item_id}}/delete", delete_page, methods=["GET"], name=f"console_{screen.slug}_delete_page"
    )
    router.add_api_route(
        f"{base}/{{item_id}}/delete", delete, methods=["POST"], name=f"console_{screen.slug}_delete"
    )


async def _form(
    request: Request,
    session: ConsoleSession,
    screen: ResourceScreen,
    state: FormState,
    current: dict[str, Any] | None,
    etag: str | None,
    api: ConsoleApi | None = None,
    stale: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    fields = schema_fields(request.app, screen.schema, screen.order)
    if api is None:
        async with api_for(request, session.api_key) as own:
            references = await reference_choices(own, fields)
    else:
        references = await reference_choices(api, fields)
    base = f"{BASE}/{screen.slug}"
    editing = current is not None
    item_id = current["id"] if current else None
    info = []
    if screen.slug == "oauth-providers":  # O1–O3: the URI to register at the provider
        uri = current.get("redirect_uri") if current else None
        info.append(
            (t("field.redirect_uri"), uri or redirect_uri(public_url(request)), t("help.redirect_uri"))
        )
    context = {
        "title": t(f"screen.{screen.slug}.edit" if editing else f"screen.{screen.slug}.new"),
        "screen": screen,
        "fields": field_views(t, screen.slug, fields, state, references),
        "general": state.general,
        "action": f"{base}/{item_id}" if editing else f"{base}/new",
        "etag": etag or "",
        "stale": stale,
        "reload_href": f"{base}/{item_id}" if editing else None,
        "delete_href": f"{base}/{item_id}/delete" if editing else None,
        "list_href": base,
        "saved": bool(request.query_params.get("saved")) and status_code == 200,
        "info": info,
        "has_errors": bool(state.errors or state.general or stale),
    }
    return render(request, "form.html", context, status_code=status_code, session=session)


def _delete_form(
    request: Request,
    session: ConsoleSession,
    screen: ResourceScreen,
    current: dict[str, Any],
    etag: str | None,
    detail: str | None = None,
    blockers: list[tuple[str, str | None]] | None = None,
    stale: bool = False,
    status_code: int = 200,
) -> Response:
    t = translator(request)
    base = f"{BASE}/{screen.slug}"
    context = {
        "title": t(f"screen.{screen.slug}.delete"),
        "name": current.get("name") or current.get("address") or current["id"],
        "action": f"{base}/{current['id']}/delete",
        "back_href": f"{base}/{current['id']}",
        "etag": etag or "",
        "detail": detail,
        "blockers": blockers or [],
        "stale": stale,
    }
    return render(request, "delete.html", context, status_code=status_code, session=session)


async def _named(api: ConsoleApi, screen: ResourceScreen, ids: list[str]) -> list[tuple[str, str | None]]:
    """Each blocking object as (its name, the console page showing it where there is one)."""
    named: list[tuple[str, str | None]] = []
    for object_id in ids:
        label: tuple[str, str | None] = (object_id, None)
        for reference in screen.blocking:
            answer = await api.get(f"{reference.path}/{object_id}")
            if answer.status_code == 200:
                item = answer.json()
                text = str(item.get(reference.label) or object_id)
                label = (text, f"{BASE}{reference.path}/{object_id}")
                break
        named.append(label)
    return named
