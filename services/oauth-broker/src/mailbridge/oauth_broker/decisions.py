"""The broker's rules as plain functions (O4): which token to hand out, when to refresh, who
signed in, and what a provider's error means for the account. No I/O; unit-tested alone.

The msal token cache is JSON (msal's `SerializableTokenCache.serialize()`): `AccessToken`
entries carry `secret` and `expires_on` (epoch seconds, as a string). Reading the current token
from it needs no msal application, so the fast path builds none.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailbridge.common.oauth_requests import FlowRefusal, token_fingerprint
from mailbridge.common.printable import printable
from mailbridge.oauth_broker.model import JsonDict, ProviderError

REASON_LIMIT = 500  # mail_accounts.oauth_reason's width
# The grant itself is gone: only a person signing in again helps (revoked, consent withdrawn,
# user disabled, refresh token expired). Every other error leaves the account as it is.
GRANT_GONE = frozenset({"invalid_grant", "interaction_required", "consent_required"})
STILL_WAITING = frozenset({"authorization_pending", "slow_down"})  # RFC 8628 §3.5
DEVICE_DECLINED = frozenset({"access_denied", "authorization_declined"})


@dataclass(frozen=True)
class CachedToken:
    access_token: str = field(repr=False)
    expires_at: datetime

    @property
    def fingerprint(self) -> str:
        return token_fingerprint(self.access_token)


def current_access_token(cache_json: str) -> CachedToken | None:
    """The cache's access token that lives longest, or None when it holds none."""
    try:
        entries = json.loads(cache_json).get("AccessToken", {})
    except (ValueError, AttributeError):
        return None
    best: CachedToken | None = None
    for entry in entries.values() if isinstance(entries, dict) else ():
        try:
            expires_at = datetime.fromtimestamp(int(entry["expires_on"]), UTC)
            token = CachedToken(str(entry["secret"]), expires_at)
        except (KeyError, TypeError, ValueError):
            continue
        if best is None or token.expires_at > best.expires_at:
            best = token
    return best


def refresh_due(token: CachedToken | None, now: datetime, margin: timedelta, rejected: str | None) -> bool:
    """Refresh when there is no token, when less than `margin` remains, or when a mail server
    refused exactly this token (`rejected` is its fingerprint). A refusal of an older token
    means another asker already caused the refresh: the current token is answered."""
    if token is None or token.expires_at - now < margin:
        return True
    return rejected is not None and rejected == token.fingerprint


def still_usable(token: CachedToken, now: datetime, rejected: str | None) -> bool:
    """Whether `token` may be answered when its refresh failed: not expired, not the refused one."""
    return token.expires_at > now and token.fingerprint != rejected


def grant_gone(error: ProviderError) -> bool:
    return error.error in GRANT_GONE


def provider_reason(error: ProviderError) -> str:
    """The provider's own words, fit for mail_accounts.oauth_reason and a person."""
    words = error.description.strip() or error.error
    return printable(words, REASON_LIMIT)


def signed_in_mailbox(claims: JsonDict) -> str | None:
    """The mailbox that signed in, from the id token: preferred_username (Entra's UPN-like
    sign-in name), else email, else upn."""
    for claim in ("preferred_username", "email", "upn"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def same_mailbox(signed_in: str | None, login: str) -> bool:
    """O4 "the same e-mail account": compared case-insensitively, as mail addresses are."""
    return signed_in is not None and signed_in.casefold() == login.strip().casefold()


def device_refusal(error: ProviderError) -> FlowRefusal | None:
    """A device poll's error: None while the person has not finished (pending), else the refusal."""
    if error.error in STILL_WAITING:
        return None
    if error.error == "expired_token":
        return FlowRefusal.FLOW_EXPIRED
    if error.error in DEVICE_DECLINED:
        return FlowRefusal.CONSENT_DENIED
    return FlowRefusal.CODE_REJECTED


def expired(expires_at: datetime, now: datetime) -> bool:
    return expires_at <= now
