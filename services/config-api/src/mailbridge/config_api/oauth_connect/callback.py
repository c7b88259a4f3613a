"""Route: GET /oauth/callback, where the provider sends the browser back (outside /api/v1, no API
key: the person's browser comes here, not a client of the API).

The query goes to the broker as received (it redeems the code; nothing here keeps it) and the
answer is a plain page (pages.py). The URL carries the code: the page is never cached, loads
nothing (a strict CSP) and sends no Referer on.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from mailbridge.common.oauth_requests import CallbackReply, ConnectRefused, FlowRefusal
from mailbridge.config_api.oauth_connect.broker import BrokerDep, finish_callback
from mailbridge.config_api.oauth_connect.pages import page_for, render
from mailbridge.config_api.oauth_connect.redirect import CALLBACK_PATH

router = APIRouter(tags=["OAuth callback"])
MAX_PARAMS, MAX_VALUE_CHARS = 20, 8192
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _too_large(params: dict[str, str]) -> bool:
    return len(params) > MAX_PARAMS or any(len(value) > MAX_VALUE_CHARS for value in params.values())


PAGES: dict[int | str, dict[str, Any]] = {
    400: {"description": "refused: the page names why", "content": {"text/html": {}}},
    503: {
        "description": "the broker or the provider is unavailable: try again",
        "content": {"text/html": {}},
    },
}


@router.get(CALLBACK_PATH, response_class=HTMLResponse, operation_id="oauth_callback", responses=PAGES)
async def oauth_callback(request: Request, broker: BrokerDep) -> HTMLResponse:
    """Hand the provider's answer (state and code, or error) to the broker; show what happened:
    200 connected, 400 refused (consent denied, wrong mailbox, flow expired, state unknown, code
    rejected), 503 broker unavailable."""
    params = dict(request.query_params)
    reply: CallbackReply
    if _too_large(params):
        reply = ConnectRefused(
            account_id=None, error=FlowRefusal.BAD_REQUEST, detail="the query is larger than any provider's"
        )
    else:
        reply = await finish_callback(broker, params)
    page = page_for(reply)
    headers = dict(PAGE_HEADERS)
    if page.retry_after_s is not None:
        headers["Retry-After"] = str(page.retry_after_s)
    return HTMLResponse(render(page), status_code=page.status, headers=headers)
