"""A token source that holds no grant: every account is `not_connected` until the connect flow
(O4) and the encrypted msal token cache arrive (#13) and replace this adapter in main.py."""

import uuid

from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal, TokenReply


class NoTokens:
    async def access_token(self, account_id: uuid.UUID) -> TokenReply:
        return AccessTokenRefused(
            account_id=account_id,
            error=Refusal.NOT_CONNECTED,
            detail="the OAuth broker holds no token for this account: connect the account (O4) first",
        )
