"""The token request's edge: a body → the reply (a token, or a typed refusal), never a crash."""

import logging

from mailbridge.common.oauth_requests import (
    AccessTokenRefused,
    AccessTokenRequest,
    Refusal,
    TokenReply,
)
from mailbridge.oauth_broker.ports import TokenSource
from pydantic import ValidationError

logger = logging.getLogger(__name__)


async def answer_token_request(tokens: TokenSource, body: bytes) -> TokenReply:
    try:
        request = AccessTokenRequest.model_validate_json(body)
    except ValidationError as error:
        detail = f'not a token request ({error.error_count()} problems): expected {{"account_id": UUID}}'
        return AccessTokenRefused(account_id=None, error=Refusal.BAD_REQUEST, detail=detail)
    try:
        return await tokens.access_token(request.account_id, request.rejected)
    except Exception:  # the database away, a bug: the asker gets a retryable answer, not silence
        logger.exception("token request failed", extra={"account_id": str(request.account_id)})
        detail = "the OAuth broker failed to answer (see its log): try again later"
        return AccessTokenRefused(account_id=request.account_id, error=Refusal.UNAVAILABLE, detail=detail)
