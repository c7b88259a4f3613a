"""O4's callback page, against a stand-in broker on a real NATS: GET /oauth/callback needs no API
key, hands the provider's query to the broker as received, and answers a plain page: "obtained"
(200), or what went wrong (400), or the broker unavailable (503, Retry-After); never cached,
nothing loaded, the code never echoed, the broker's words escaped."""

import uuid

import httpx
import pytest
from broker_double import broker_double
from config_api_testing import Api
from mailbridge.common.oauth_requests import (
    CALLBACK_REQUEST_SUBJECT,
    ConnectFinished,
    ConnectRefused,
    FlowRefusal,
)

CALLBACK = "http://mailbridge/oauth/callback"
CODE = "0.AAAA-secret-authorisation-code-xyz"
ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")


async def browser_get(api: Api, params: dict[str, str]) -> httpx.Response:
    """The browser's request: no API key."""
    return await api.client.get(CALLBACK, params=params)


def assert_safe_page(page: httpx.Response) -> None:
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert CODE not in page.text


async def test_o4_a_finished_flow_shows_authorisation_code_obtained(api: Api, nats_url: str) -> None:
    finished = ConnectFinished(account_id=ACCOUNT, login="ann@contoso.example")
    query = {"code": CODE, "state": "st-1", "session_state": "s"}
    async with broker_double(nats_url, {CALLBACK_REQUEST_SUBJECT: [finished]}) as broker:
        page = await browser_get(api, query)
    assert page.status_code == 200, page.text
    assert "Authorisation code obtained — you can close this window" in page.text
    assert "ann@contoso.example" in page.text
    assert_safe_page(page)
    assert broker.received[CALLBACK_REQUEST_SUBJECT] == [{"params": query}]


@pytest.mark.parametrize(
    ("error", "headline"),
    [
        (FlowRefusal.CONSENT_DENIED, "consent denied"),
        (FlowRefusal.WRONG_MAILBOX, "Signed in with the wrong mailbox"),
        (FlowRefusal.FLOW_EXPIRED, "the flow expired"),
        (FlowRefusal.STATE_UNKNOWN, "state unknown"),
        (FlowRefusal.CODE_REJECTED, "rejected the authorisation code"),
    ],
)
async def test_a_refused_callback_is_400_naming_what_went_wrong(
    api: Api, nats_url: str, error: FlowRefusal, headline: str
) -> None:
    detail = 'the provider said <script>alert("x")</script> & more'
    refused = ConnectRefused(account_id=ACCOUNT, error=error, detail=detail)
    async with broker_double(nats_url, {CALLBACK_REQUEST_SUBJECT: [refused]}):
        page = await browser_get(api, {"code": CODE, "state": "st-2"})
    assert page.status_code == 400
    assert headline in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page.text
    assert "<script>" not in page.text
    assert "Authorisation code obtained" not in page.text
    assert_safe_page(page)


async def test_denied_consent_reaches_the_broker_as_the_provider_sent_it(api: Api, nats_url: str) -> None:
    query = {"error": "access_denied", "error_description": "AADSTS65004: declined", "state": "st-3"}
    refused = ConnectRefused(
        account_id=ACCOUNT, error=FlowRefusal.CONSENT_DENIED, detail="AADSTS65004: declined"
    )
    async with broker_double(nats_url, {CALLBACK_REQUEST_SUBJECT: [refused]}) as broker:
        page = await browser_get(api, query)
    assert page.status_code == 400
    assert "AADSTS65004: declined" in page.text
    assert broker.received[CALLBACK_REQUEST_SUBJECT] == [{"params": query}]


async def test_an_unavailable_broker_is_a_503_page_with_retry_after(api: Api, nats_url: str) -> None:
    page = await browser_get(api, {"code": CODE, "state": "st-4"})
    assert page.status_code == 503
    assert "unavailable" in page.text
    assert "no OAuth broker is running" in page.text
    assert int(page.headers["retry-after"]) > 0
    assert_safe_page(page)
    refused = ConnectRefused(
        account_id=None, error=FlowRefusal.UNAVAILABLE, detail="the provider did not answer"
    )
    async with broker_double(nats_url, {CALLBACK_REQUEST_SUBJECT: [refused]}):
        page = await browser_get(api, {"code": CODE, "state": "st-4"})
    assert page.status_code == 503
    assert "the provider did not answer" in page.text


async def test_a_query_larger_than_any_providers_is_refused_without_asking(api: Api, nats_url: str) -> None:
    finished = ConnectFinished(account_id=ACCOUNT, login="ann@contoso.example")
    async with broker_double(nats_url, {CALLBACK_REQUEST_SUBJECT: [finished]}) as broker:
        page = await browser_get(api, {"code": CODE, "state": "s" * 9000})
    assert page.status_code == 400
    assert broker.received[CALLBACK_REQUEST_SUBJECT] == []
    assert_safe_page(page)
