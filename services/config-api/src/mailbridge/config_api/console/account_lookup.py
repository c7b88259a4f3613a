"""One mail account as the signed-in key may see it, for every page about an account (accounts.py,
mailbox_routes.py): the API's answer, or the console's page saying why not (404 for an id that
is none, or for another user's account, as the API answers)."""

from dataclasses import dataclass
from typing import Any

from mailbridge.config_api.console.api_client import ConsoleApi
from mailbridge.config_api.console.pages import parse_id, problem_detail, refused
from mailbridge.config_api.console.session import ConsoleSession
from starlette.requests import Request
from starlette.responses import Response

ACCOUNTS_API = "/mail-accounts"


@dataclass(frozen=True)
class FoundAccount:
    body: dict[str, Any]
    etag: str | None


async def find_account(
    request: Request, api: ConsoleApi, session: ConsoleSession, account_id: str
) -> FoundAccount | Response:
    if parse_id(account_id) is None:
        return refused(request, session, 404, account_id)
    answer = await api.get(f"{ACCOUNTS_API}/{account_id}")
    if answer.status_code != 200:
        return refused(request, session, answer.status_code, problem_detail(answer))
    return FoundAccount(answer.json(), answer.headers.get("etag"))
