"""Drive the local identity provider's HTML forms over HTTPS the way a person's browser would.

GET the page, read its form (action, hidden fields), fill in login and password, press "Accept"
or "Cancel", and stop at the redirect: the callback URL is returned, never followed, so the
test decides who receives it. A page that answers with the form again (wrong password, disabled
account, unknown code) raises `SignInRefused` with the page's error text.
"""

import ssl
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
from mailbridge.testkit.identity_provider_pages import ERROR_CLASS


class SignInRefused(RuntimeError):
    """The provider showed its form again, or an error page, instead of finishing."""


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.error: str | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("type") == "hidden" and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")
        elif attributes.get("class") == ERROR_CLASS:
            self._in_error = True

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error, self._in_error = data, False


def _read_form(response: httpx.Response) -> _Form:
    form = _Form()
    form.feed(response.text)
    if response.status_code != 200 or form.action is None:
        raise SignInRefused(form.error or f"HTTP {response.status_code} at {response.url}")
    return form


def _client(ca_file: Path) -> httpx.Client:
    trust = ssl.create_default_context(cafile=ca_file)
    return httpx.Client(verify=trust, trust_env=False, follow_redirects=False, timeout=30.0)


def submit_sign_in(authorization_url: str, ca_file: Path, login: str, password: str, accept: bool) -> str:
    """Open the authorization URL, sign in, accept or cancel; return the redirect's Location."""
    with _client(ca_file) as client:
        form = _read_form(client.get(authorization_url))
        answer = {"login": login, "password": password, "action": "accept" if accept else "cancel"}
        response = client.post(urljoin(authorization_url, form.action or ""), data=form.fields | answer)
        if response.status_code in (302, 303):
            return response.headers["location"]
        refused = _Form()
        refused.feed(response.text)
        raise SignInRefused(refused.error or f"HTTP {response.status_code} from the sign-in form")


def submit_device_code(
    page_url: str, ca_file: Path, user_code: str, login: str, password: str, accept: bool
) -> None:
    """Enter the device's user code at the verification page and sign in (or decline)."""
    with _client(ca_file) as client:
        form = _read_form(client.get(page_url))
        answer = {"user_code": user_code, "login": login, "password": password}
        answer["action"] = "accept" if accept else "cancel"
        response = client.post(urljoin(page_url, form.action or ""), data=form.fields | answer)
        if response.status_code != 200:
            refused = _Form()
            refused.feed(response.text)
            raise SignInRefused(refused.error or f"HTTP {response.status_code} from the device page")
