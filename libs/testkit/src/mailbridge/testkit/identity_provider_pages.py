"""The local identity provider's HTML: the sign-in form, the device-code page, the error page.

Plain forms a test drives over HTTP the way a browser would (see identity_provider_browser):
the authorize form carries the request's parameters in hidden fields, so the POST needs no
server-side session; "Accept" and "Cancel" are the two values of the button named `action`.
"""

from collections.abc import Mapping
from html import escape

ERROR_CLASS = "error"  # the element whose text says what went wrong


def _page(title: str, body: str, error: str | None = None) -> str:
    problem = f'<p class="{ERROR_CLASS}" role="alert">{escape(error)}</p>' if error else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{problem}{body}</body></html>"
    )


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in fields.items()
    )


_CREDENTIALS = (
    '<label>Login <input name="login" autocomplete="username" value="{login}"></label>'
    '<label>Password <input type="password" name="password" autocomplete="current-password"></label>'
    '<button type="submit" name="action" value="accept">Accept</button>'
    '<button type="submit" name="action" value="cancel">Cancel</button>'
)


def sign_in_page(
    action: str, request_fields: Mapping[str, str], client_id: str, error: str | None = None
) -> str:
    """The sign-in and consent form of the authorize endpoint."""
    form = (
        f'<form method="post" action="{escape(action)}">{_hidden(request_fields)}'
        f"<p>The application {escape(client_id)} asks for: {escape(request_fields.get('scope', ''))}</p>"
        f"{_CREDENTIALS.format(login=escape(request_fields.get('login_hint', '')))}</form>"
    )
    return _page("Sign in to your account", form, error)


def device_page(action: str, error: str | None = None) -> str:
    """The verification page of the device flow: the code shown on the device, then sign-in."""
    form = (
        f'<form method="post" action="{escape(action)}">'
        '<label>Code <input name="user_code" autocomplete="off"></label>'
        f"{_CREDENTIALS.format(login='')}</form>"
    )
    return _page("Enter code", form, error)


def done_page(message: str) -> str:
    return _page("Done", f"<p>{escape(message)}</p>")


def error_page(message: str) -> str:
    """Shown instead of a redirect when the client or its redirect_uri is not to be trusted."""
    return _page("Sign-in error", "", message)
