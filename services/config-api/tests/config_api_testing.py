"""Helpers for the configuration API tests: a client speaking as one API key, valid bodies, an
outbox world of users, groups and accounts, and the rule ids of a 422 answer."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.events import MailboxChangeRequested
from mailbridge.common.streams import FETCH
from mailbridge.config_api.api_keys import Role, create_api_key
from mailbridge.config_api.main import create_app
from mailbridge.config_api.settings import ConfigApiSettings
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@dataclass
class RunningApp:
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    database_url: str


class Api:
    """An HTTP client speaking as one API key; `as_key` gives one for another key."""

    def __init__(self, client: httpx.AsyncClient, running: RunningApp, key: str) -> None:
        self.client, self.running, self.key = client, running, key

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self._headers(None))

    async def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self._headers(headers))

    async def post_form(
        self,
        path: str,
        message: Any,
        files: Sequence[tuple[str, bytes, str]] = (),
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """multipart/form-data as a client sends it: the `message` part (JSON unless given as a
        string) and one `attachments` file part per (filename, bytes, content type)."""
        text = message if isinstance(message, str) else json.dumps(message)
        parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("message", (None, text.encode(), "application/json"))
        ]
        parts += [("attachments", file) for file in files]
        return await self.client.post(path, files=parts, headers=self._headers(headers))

    async def post_bytes(
        self,
        path: str,
        content: bytes | AsyncIterator[bytes],
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A body exactly as given (or streamed), for framing the tests must control."""
        return await self.client.post(
            path, content=content, headers=self._headers({"Content-Type": content_type, **(headers or {})})
        )

    async def patch(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.patch(path, json=body, headers=self._headers(headers))

    async def delete(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.delete(path, headers=self._headers(headers))

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST that must succeed; returns the created object."""
        response = await self.post(path, body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def user_key(self, user_id: str) -> "Api":
        async with self.running.sessions() as session:
            key = await create_api_key(session, Role.USER, uuid.UUID(user_id))
            await session.commit()
        return Api(self.client, self.running, key)

    def with_key(self, key: str) -> "Api":
        return Api(self.client, self.running, key)


@asynccontextmanager
async def serving(
    settings: ConfigApiSettings,
    base_url: str = "http://mailbridge/api/v1",
    before: Callable[[RunningApp], Awaitable[object]] | None = None,
) -> AsyncIterator[Api]:
    """An app of its own for these settings (its database migrated), and an admin client of it;
    `before(running)` runs once the app is up, before the key is made."""
    database_url = settings.effective_database_url(settings.var_dir)
    await upgrade_async(database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        running = RunningApp(app, app.state.context.sessions, database_url)
        if before is not None:
            await before(running)
        async with running.sessions() as session:
            key = await create_api_key(session, Role.ADMIN, None)
            await session.commit()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield Api(client, running, key)


def rules(response: httpx.Response) -> dict[str, str]:
    """The offending fields of a 422 problem and the rule each broke."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {error["field"]: error["rule"] for error in response.json()["errors"]}


def imap_server_body(name: str = "Main IMAP", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "smtp_host": "smtp.example.com",
        "incoming_protocol": "imap",
        "incoming_host": "imap.example.com",
        **changes,
    }


def pop3_server_body(name: str = "Main POP3", **changes: Any) -> dict[str, Any]:
    return imap_server_body(name, incoming_protocol="pop3", incoming_host="pop.example.com") | changes


def account_body(
    server_id: str, owner_type: str, owner_id: str, address: str = "ann@example.com", **changes: Any
) -> dict[str, Any]:
    return {
        "owner": {"type": owner_type, "id": owner_id},
        "server_id": server_id,
        "login": address,
        "address": address,
        **changes,
    }


MAIL = {"to": ["x@example.org"], "subject": "Hello", "text": "Hi there"}


async def outbox_world(api: Api) -> dict[str, Any]:
    """Ann and Bob in group Sales; an account each (`mine` is Ann's) and the group's `shared` one,
    with Ann's and Bob's user keys."""
    server = await api.create("/mail-servers", imap_server_body())
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    sales = await api.create("/groups", {"name": "Sales", "member_ids": [ann["id"], bob["id"]]})
    mine = await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"]))
    shared = await api.create(
        "/mail-accounts", account_body(server["id"], "group", sales["id"], "sales@example.com")
    )
    bobs = await api.create(
        "/mail-accounts", account_body(server["id"], "user", bob["id"], "bob@example.com")
    )
    return {
        "mine": mine, "shared": shared, "bobs": bobs,
        "ann": await api.user_key(ann["id"]), "bob": await api.user_key(bob["id"]),
    }  # fmt: skip


async def published_command(js: JetStreamContext, seq: int, within_s: float = 10.0) -> MailboxChangeRequested:
    """The command at `seq` of the FETCH stream, once the outbox relay has published it."""
    async with asyncio.timeout(within_s):
        while True:
            try:
                stored = await js.get_msg(FETCH.name, seq)
            except NotFoundError:
                await asyncio.sleep(0.02)
                continue
            assert stored.data is not None
            return MailboxChangeRequested.model_validate_json(stored.data)


M365_DEFAULTS = {"name": "M365", "server_type": "microsoft365_email", "use_default_settings": True}


async def oauth_world(api: Api) -> dict[str, Any]:
    """An OAuth server (Microsoft 365 defaults) with Ann's account, a shared account of group
    Sales (Ann and Bob), Carol's account, and Ann's, Bob's and Carol's user keys."""
    provider = await api.create("/oauth-providers", M365_DEFAULTS)
    server = await api.create("/mail-servers", imap_server_body("Exchange", oauth_provider_id=provider["id"]))
    ann = await api.create("/users", {"name": "Ann", "email": "ann@example.com"})
    bob = await api.create("/users", {"name": "Bob", "email": "bob@example.com"})
    carol = await api.create("/users", {"name": "Carol", "email": "carol@example.com"})
    sales = await api.create("/groups", {"name": "Sales", "member_ids": [ann["id"], bob["id"]]})
    return {
        "provider": provider, "server": server,
        "mine": await api.create("/mail-accounts", account_body(server["id"], "user", ann["id"])),
        "shared": await api.create(
            "/mail-accounts", account_body(server["id"], "group", sales["id"], "sales@example.com")
        ),
        "ann": await api.user_key(ann["id"]), "bob": await api.user_key(bob["id"]),
        "carol": await api.user_key(carol["id"]),
    }  # fmt: skip
