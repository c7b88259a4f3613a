"""The request edges never crash and never leave an asker waiting: a use-case that fails (the
database away, a bug) answers `unavailable`, logged with its traceback but without a secret."""

import logging
import uuid

import pytest
from mailbridge.common.oauth_requests import (
    AccessTokenRefused,
    ConnectRefused,
    ConnectRequest,
    FlowRefusal,
    Refusal,
    TokenReply,
)
from mailbridge.oauth_broker.answer_token_request import answer_token_request
from mailbridge.oauth_broker.subscribers import answer_flow_request
from pydantic import BaseModel

ACCOUNT = uuid.UUID("01a21a80-4577-7c31-aec5-77c42ab161e2")


class BrokenTokens:
    async def access_token(self, account_id: uuid.UUID, rejected: str | None = None) -> TokenReply:
        raise ConnectionResetError("the database went away")


async def test_a_failing_token_use_case_answers_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    reply = await answer_token_request(BrokenTokens(), f'{{"account_id": "{ACCOUNT}"}}'.encode())
    assert isinstance(reply, AccessTokenRefused)
    assert (reply.account_id, reply.error, reply.retryable) == (ACCOUNT, Refusal.UNAVAILABLE, True)
    assert "the database went away" in caplog.text


async def test_a_failing_flow_use_case_answers_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: ConnectRequest) -> BaseModel:
        raise ConnectionResetError("the database went away")

    body = f'{{"account_id": "{ACCOUNT}", "redirect_uri": "https://mb/oauth/callback"}}'.encode()
    caplog.set_level(logging.INFO)
    reply = await answer_flow_request(body, ConnectRequest, broken)
    assert reply == ConnectRefused(
        account_id=ACCOUNT, error=FlowRefusal.UNAVAILABLE,
        detail="the OAuth broker failed to answer (see its log): try again later",
    )  # fmt: skip
    assert "ConnectRequest failed" in caplog.text


async def test_a_flow_request_that_does_not_parse_is_a_bad_request() -> None:
    async def never(request: ConnectRequest) -> BaseModel:
        raise AssertionError("not called")

    reply = await answer_flow_request(b'{"account_id": "x"}', ConnectRequest, never)
    assert isinstance(reply, ConnectRefused)
    assert (reply.account_id, reply.error) == (None, FlowRefusal.BAD_REQUEST)
