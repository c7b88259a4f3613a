"""The use-case: a token request's body → the reply (a token, or a typed refusal), never a crash."""

from mailbridge.common.oauth_requests import (
    AccessTokenRefused,
    AccessTokenRequest,
    Refusal,
    TokenReply,
)
from mailbridge.oauth_broker.ports import TokenSource
from pydantic import ValidationError


async def answer_token_request(tokens: TokenSource, body: bytes) -> TokenReply:
    try:
        request = AccessTokenRequest.model_validate_json(body)
    except ValidationError as error:
        detail = f'not a token request ({error.error_count()} problems): expected {{"account_id": UUID}}'
        return AccessTokenRefused(account_id=None, error=Refusal.BAD_REQUEST, detail=detail)
    return await tokens.access_token(request.account_id)
