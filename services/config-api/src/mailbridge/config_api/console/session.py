"""The console's session: the API key it signs in with and its CSRF token, in one cookie.

The cookie holds both (and the sign-in time and the screens the key may open), encrypted and
authenticated with the installation's secret key (the `SecretBox` that also keeps passwords at
rest), so no server-side store is needed and any config-api replica reads it. It is `HttpOnly`,
`SameSite=Strict` and `Secure` when the console is served over https, and ends with the browser
or 12 hours after signing in. Every POST carries the session's CSRF token in a hidden `csrf`
field; the sign-in form, before any session exists, carries the token of a short-lived
pre-session cookie (double submit).
"""

import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from mailbridge.common.secrets import SecretBox, SecretKeyError
from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "mb_console"
SIGN_IN_COOKIE = "mb_console_sign_in"
LANGUAGE_COOKIE = "mb_console_lang"
COOKIE_PATH = "/console"
SIGN_IN_MAX_AGE_S = 3600
LANGUAGE_MAX_AGE_S = 365 * 24 * 3600
# A session ends with the browser, and at the latest this long after signing in.
SESSION_MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class ConsoleSession:
    api_key: str
    csrf: str
    signed_in_at: float = field(default_factory=time.time)
    # The screens this key may open, as the API answered at sign-in (the navigation shows these).
    screens: tuple[str, ...] = ()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def seal(box: SecretBox, session: ConsoleSession) -> str:
    data = {
        "key": session.api_key,
        "csrf": session.csrf,
        "at": session.signed_in_at,
        "screens": session.screens,
    }
    return box.encrypt(json.dumps(data))


def unseal(box: SecretBox, cookie: str | None, now: float | None = None) -> ConsoleSession | None:
    """The session in `cookie`, or None when there is none, it was not made by this installation,
    or it is older than SESSION_MAX_AGE_S."""
    if not cookie:
        return None
    try:
        data = json.loads(box.decrypt(cookie))
        screens = tuple(str(slug) for slug in data.get("screens", ()))
        session = ConsoleSession(str(data["key"]), str(data["csrf"]), float(data["at"]), screens)
    except (SecretKeyError, ValueError, KeyError, TypeError):
        return None
    age = (time.time() if now is None else now) - session.signed_in_at
    return session if 0 <= age <= SESSION_MAX_AGE_S else None


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
