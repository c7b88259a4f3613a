"""#15 metrics: the outcome labels of mailbridge_token_refreshes_total and the counting of token
answers (mailbridge_token_requests_total, mailbridge_token_refusals_total by kind)."""

import uuid
from datetime import UTC, datetime

from mailbridge.common.metrics import TOKEN_REFUSALS, TOKEN_REQUESTS
from mailbridge.common.oauth_requests import AccessTokenGranted, AccessTokenRefused, Refusal
from mailbridge.oauth_broker.model import ProviderError, Tokens
from mailbridge.oauth_broker.subscribers import count_token_reply
from mailbridge.oauth_broker.tokens import refresh_label


def test_refresh_outcomes() -> None:
    tokens = Tokens(cache_json="{}", access_token="t", expires_at=datetime.now(UTC))
    assert refresh_label(tokens) == "refreshed"
    assert refresh_label(ProviderError("invalid_grant", "the grant was revoked")) == "grant_gone"
    assert refresh_label(ProviderError("temporarily_unavailable", "try later")) == "refused"


def test_token_answers_are_counted_by_answer_and_refusals_by_kind() -> None:
    def counts() -> tuple[float, float, float]:
        return (
            TOKEN_REQUESTS.labels("token")._value.get(),
            TOKEN_REQUESTS.labels("refused")._value.get(),
            TOKEN_REFUSALS.labels("needs_reconnect")._value.get(),
        )

    before = counts()
    account = uuid.uuid4()
    count_token_reply(AccessTokenGranted(account_id=account, access_token="t", expires_at=datetime.now(UTC)))
    count_token_reply(
        AccessTokenRefused(account_id=account, error=Refusal.NEEDS_RECONNECT, detail="connect again")
    )
    after = counts()
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
