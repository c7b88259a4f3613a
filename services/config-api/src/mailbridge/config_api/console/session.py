"""The console's session: the API key it signs in with and its CSRF token, in one cookie.

The cookie holds both, encrypted and authenticated with the installation's secret key (the
`SecretBox` that also keeps passwords at rest), so no server-side store is needed and any
config-api replica reads it. It is `HttpOnly`, `SameSite=Strict` and `Secure` when the console is
served over https. Every POST carries the session's CSRF token in a hidden `csrf` field; the
sign-in form, before any session exists, carries the token of a short-lived pre-session cookie
(double submit).
"""

import hmac
import json
import secrets
from dataclasses import dataclass

from mailbridge.common.secrets import SecretBox, SecretKeyError
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "mb_console"
SIGN_IN_COOKIE = "mb_console_sign_in"
LANGUAGE_COOKIE = "mb_console_lang"
COOKIE_PATH = "/console"
SIGN_IN_MAX_AGE_S = 3600
LANGUAGE_MAX_AGE_S = 365 * 24 * 3600


@dataclass(frozen=True)
class ConsoleSession:
    api_key: str
    csrf: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def seal(box: SecretBox, session: ConsoleSession) -> str:
    return box.encrypt(json.dumps({"key": session.api_key, "csrf": session.csrf}))


def unseal(box: SecretBox, cookie: str | None) -> ConsoleSession | None:
    """The session in `cookie`, or None when there is none or it was not made by this installation."""
    if not cookie:
        return None
    try:
        data = json.loads(box.decrypt(cookie))
        return ConsoleSession(api_key=str(data["key"]), csrf=str(data["csrf"]))
    except (SecretKeyError, ValueError, KeyError, TypeError):
        return None


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, Secure over https, scoped to /console."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, secure=is_https(request), httponly=True, samesite="strict")
