"""What the token use-case needs; adapters implement it, unit tests fake it."""

import uuid
from typing import Protocol

from mailbridge.common.oauth_requests import TokenReply


class TokenSource(Protocol):
    """Where access tokens come from: today nothing (adapters.no_tokens); #13 the msal cache."""

    async def access_token(self, account_id: uuid.UUID) -> TokenReply: ...
