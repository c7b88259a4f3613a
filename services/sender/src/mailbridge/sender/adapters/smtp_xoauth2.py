"""SMTP AUTH XOAUTH2 with a token from the OAuth broker (S2, O4): the `Authenticate` of every
connection, which logs in with the password (S5) where the server has no OAuth provider.

The two-step form (`AUTH XOAUTH2` → `334` → the SASL string on a line of its own), as Microsoft
documents it; aiosmtplib's `auth_xoauth2` sends the string on the command's line, which Dovecot's
submission service refuses beyond about 1 KB and a real token is longer. A refused token gets the
server's error challenge (`334` + base64 JSON), answered with an empty line, then the refusal.

Order of effects: token from the broker (its refusal ends the attempt before AUTH:
`token_refusals`) → AUTH → on a 5xx after the token, one more token asked with the refused one's
fingerprint (the broker refreshes once) and AUTH once more on the same connection → refused
again: `token_refusals.refused_twice`. A 4xx is the server's "not now", classified as any reply.
"""

from aiosmtplib import SMTP, SMTPAuthenticationError, SMTPException
from mailbridge.common.oauth_requests import AccessTokenGranted, token_fingerprint
from mailbridge.common.printable import printable
from mailbridge.common.xoauth2 import error_challenge, initial_response
from mailbridge.sender.adapters.smtp_session import SmtpFailure, password_login, where
from mailbridge.sender.outgoing import SmtpTarget
from mailbridge.sender.ports import TokenSource
from mailbridge.sender.token_refusals import broker_refusal, refused_twice

AUTH_CONTINUE, AUTH_OK = 334, 235


class TokenRefused(Exception):
    """The server refused the token itself (a 5xx after the SASL string)."""


class SignIn:
    """The sender's `Authenticate`: XOAUTH2 for targets on an OAuth server, else the password."""

    def __init__(self, tokens: TokenSource) -> None:
        self._tokens = tokens

    async def __call__(self, client: SMTP, target: SmtpTarget) -> None:
        if not target.oauth:
            await password_login(client, target)
            return
        token = await self._token(target, None)
        try:
            await xoauth2(client, target.login, token)
        except TokenRefused:
            token = await self._token(target, token_fingerprint(token))
            try:
                await xoauth2(client, target.login, token)
            except TokenRefused as again:
                raise SmtpFailure(refused_twice(target.login, where(target), str(again))) from again

    async def _token(self, target: SmtpTarget, rejected: str | None) -> str:
        assert target.account_id is not None, "an OAuth target names its account"
        reply = await self._tokens.access_token(target.account_id, rejected)
        if isinstance(reply, AccessTokenGranted):
            return reply.access_token
        raise SmtpFailure(broker_refusal(reply, target.login))


async def xoauth2(client: SMTP, login: str, token: str) -> None:
    """AUTH XOAUTH2 in two steps; TokenRefused for a 5xx after the token, aiosmtplib's errors else."""
    await client._ehlo_or_helo_if_needed()
    if "xoauth2" not in client.server_auth_methods:
        raise SMTPException("the server does not offer AUTH XOAUTH2")
    started = await client.execute_command(b"AUTH", b"XOAUTH2")
    if started.code != AUTH_CONTINUE:
        raise SMTPAuthenticationError(started.code, started.message)
    response = await client.execute_command(initial_response(login, token))
    challenge = None
    if response.code == AUTH_CONTINUE:  # the error challenge: answered empty, then the refusal
        challenge = error_challenge(response.message.encode())
        response = await client.execute_command(b"")
    if response.code == AUTH_OK:
        return
    if 500 <= response.code < 600:
        said = printable(f"{response.code} {response.message}") + (f" ({challenge})" if challenge else "")
        raise TokenRefused(said)
    raise SMTPAuthenticationError(response.code, response.message)
