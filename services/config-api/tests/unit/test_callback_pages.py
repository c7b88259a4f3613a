"""The callback page's words (pages.py, pure): every refusal the broker can give has its own
headline, the status follows the refusal, and the broker's words are escaped."""

import uuid

import pytest
from mailbridge.common.oauth_requests import ConnectFinished, ConnectRefused, FlowRefusal
from mailbridge.config_api.oauth_connect.pages import HEADLINES, OBTAINED, page_for, render

ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")


def test_every_refusal_has_a_headline_of_its_own() -> None:
    assert set(HEADLINES) == set(FlowRefusal)
    assert len(set(HEADLINES.values())) == len(FlowRefusal)


@pytest.mark.parametrize("error", list(FlowRefusal))
def test_a_refusal_is_400_or_503_with_retry_after_and_never_obtained(error: FlowRefusal) -> None:
    page = page_for(ConnectRefused(account_id=ACCOUNT, error=error, detail="why"))
    unavailable = error is FlowRefusal.UNAVAILABLE
    assert (page.status, page.retry_after_s is not None) == ((503, True) if unavailable else (400, False))
    assert page.heading == HEADLINES[error]
    assert page.text.startswith("why. ")
    assert OBTAINED not in render(page)


def test_connected_is_200_naming_the_mailbox_escaped() -> None:
    page = page_for(ConnectFinished(account_id=ACCOUNT, login="a<b>@example.org"))
    assert (page.status, page.heading, page.retry_after_s) == (200, OBTAINED, None)
    html = render(page)
    assert "a&lt;b&gt;@example.org" in html
    assert "<b>" not in html


def test_the_page_leads_back_to_the_accounts_console_page_when_the_account_is_known() -> None:
    """#16: after the provider's sign-in, the console's account page shows the outcome (O4)."""
    connected = render(page_for(ConnectFinished(account_id=ACCOUNT, login="a@example.org")))
    assert f'<a href="/console/mail-accounts/{ACCOUNT}">' in connected
    refused = render(
        page_for(ConnectRefused(account_id=ACCOUNT, error=FlowRefusal.CONSENT_DENIED, detail="no"))
    )
    assert f'<a href="/console/mail-accounts/{ACCOUNT}">' in refused
    unknown = render(page_for(ConnectRefused(account_id=None, error=FlowRefusal.STATE_UNKNOWN, detail="no")))
    assert "/console/" not in unknown
