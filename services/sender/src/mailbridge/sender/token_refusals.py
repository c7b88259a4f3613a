"""What a refusal from the OAuth broker makes of a send (S2, O4), as data.

`needs_reconnect` and `not_connected`: a person must connect the account; no attempt can go
before that, so the mail fails at once with the broker's detail (SendFailed), no retry storm.
`unavailable`: the broker or the identity provider did not answer, which a later attempt may
find mended, like a mail server that is away. `bad_request` is a bug: final.
"""

from mailbridge.common.oauth_requests import AccessTokenRefused, Refusal
from mailbridge.sender.model import Verdict
from mailbridge.sender.smtp_replies import SmtpResult, failed


def broker_refusal(refused: AccessTokenRefused, login: str) -> SmtpResult:
    if refused.error in (Refusal.NEEDS_RECONNECT, Refusal.NOT_CONNECTED):
        word = "connected again" if refused.error is Refusal.NEEDS_RECONNECT else "connected"
        return failed(
            Verdict.GIVE_UP,
            f"the account {login} must be {word} at its OAuth provider (O4): {refused.detail}",
        )
    if refused.error is Refusal.UNAVAILABLE:
        return failed(Verdict.RETRY, f"no OAuth access token for {login} for now: {refused.detail}")
    return failed(
        Verdict.GIVE_UP, f"the OAuth broker refused the token request ({refused.error}): {refused.detail}"
    )


def refused_twice(login: str, at: str, reply: str) -> SmtpResult:
    """A freshly refreshed token refused too: this attempt ends (no loop), the mail stays queued
    for the next one, up to its attempts; the reason quotes the server."""
    return failed(
        Verdict.RETRY, f"login as {login} at {at} with an OAuth token rejected, a refreshed one too: {reply}"
    )
