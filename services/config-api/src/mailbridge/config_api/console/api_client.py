"""The console speaks to config-api's own HTTP API, in-process, with the session's API key: every
rule, validation and permission stays the API's (a user key sees what the API shows it, nothing
more), and the console keeps no second copy of them."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.requests import Request

API_PREFIX = "/api/v1"


class ConsoleApi:
    """`get`/`post`/`put`/`patch`/`delete` on paths under /api/v1, as the signed-in key."""

    def __init__(self, client: httpx.AsyncClient, api_key: str) -> None:
        self._client, self._key = client, api_key

    def _headers(self, if_match: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._key}"}
        if if_match:
            headers["If-Match"] = if_match
        return headers

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self._client.get(API_PREFIX + path, params=params, headers=self._headers(None))

    async def post(self, path: str, body: Any = None, idempotency_key: str | None = None) -> httpx.Response:
        headers = self._headers(None) | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})
        return await self._client.post(API_PREFIX + path, json=body, headers=headers)

    async def patch(self, path: str, body: Any, if_match: str | None = None) -> httpx.Response:
        return await self._client.patch(API_PREFIX + path, json=body, headers=self._headers(if_match))

    async def put(self, path: str, body: Any) -> httpx.Response:
        return await self._client.put(API_PREFIX + path, json=body, headers=self._headers(None))

    async def delete(self, path: str, if_match: str | None = None) -> httpx.Response:
        return await self._client.delete(API_PREFIX + path, headers=self._headers(if_match))

    async def all_items(self, path: str, limit: int = 200, pages: int = 10) -> list[dict[str, Any]]:
        """Every item of a list (for choices), as far as the key may read it; [] when it may not."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(pages):
            params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            response = await self.get(path, **params)
            if response.status_code != 200:
                return items
            page = response.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items


@asynccontextmanager
async def api_for(request: Request, api_key: str) -> AsyncIterator[ConsoleApi]:
    """A client over the same app (ASGITransport), at the browser's own base URL, so that what the
    API derives from the request (the OAuth redirect URI without MAILBRIDGE_PUBLIC_URL) is what the
    browser would see."""
    transport = httpx.ASGITransport(app=request.app)
    base = str(request.base_url).rstrip("/")
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        yield ConsoleApi(client, api_key)
