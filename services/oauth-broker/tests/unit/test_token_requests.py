"""The token request's contract and its use-case, without a server: typed refusals, no crash."""

import uuid
from datetime import UTC, datetime

import pytest
from mailbridge.common.oauth_requests import (
    TOKEN_REPLY,
    TOKEN_REQUEST_SUBJECT,
    AccessTokenGranted,
    AccessTokenRefused,
    Refusal,
)
from mailbridge.common.streams import stream_for
from mailbridge.oauth_broker.adapters.no_tokens import NoTokens
from mailbridge.oauth_broker.answer_token_request import answer_token_request

ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")


async def test_an_account_without_a_grant_is_refused_as_not_connected() -> None:
    reply = await answer_token_request(NoTokens(), f'{{"account_id": "{ACCOUNT}"}}'.encode())
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.account_id, reply.error, reply.retryable) == (ACCOUNT, Refusal.NOT_CONNECTED, False)
    assert "connect the account" in reply.detail


@pytest.mark.parametrize("body", [b"", b"not json", b'{"account_id": "x"}', b'{"account": "1"}'])
async def test_a_request_that_does_not_parse_is_a_bad_request(body: bytes) -> None:
    reply = await answer_token_request(NoTokens(), body)
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.account_id, reply.error) == (None, Refusal.BAD_REQUEST)


def test_the_request_subject_is_in_no_stream() -> None:
    """Tokens are secrets and streams are kept: JetStream must never capture (or answer) it."""
    with pytest.raises(LookupError):
        stream_for(TOKEN_REQUEST_SUBJECT)


def test_replies_parse_back_to_their_type_and_a_token_stays_out_of_repr() -> None:
    granted = AccessTokenGranted(
        account_id=ACCOUNT, access_token="eyJ0eXAi.secret", expires_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    refused = AccessTokenRefused(account_id=ACCOUNT, error=Refusal.UNAVAILABLE, detail="later")
    assert TOKEN_REPLY.validate_json(granted.model_dump_json()) == granted
    assert TOKEN_REPLY.validate_json(refused.model_dump_json()) == refused
    assert refused.retryable
    assert "eyJ0eXAi.secret" not in repr(granted)
