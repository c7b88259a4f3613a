"""MAILBRIDGE_PUBLIC_URL's default in the embedded default: the API's own address, reachable."""

import pytest
from mailbridge.config_api.oauth_connect.redirect import redirect_uri
from mailbridge.config_api.settings import ConfigApiSettings
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080"),  # noqa: S104 - listening everywhere, reached on loopback
        ("::", "http://[::1]:8080"),
        ("::1", "http://[::1]:8080"),
        ("localhost", "http://localhost:8080"),
    ],
)
def test_the_local_base_url_is_where_this_host_reaches_the_api(host: str, expected: str) -> None:
    assert ConfigApiSettings(api_host=host, api_port=8080).local_base_url() == expected


def test_the_redirect_uri_is_the_public_url_with_oauth_callback() -> None:
    assert redirect_uri("https://mail.example.com/") == "https://mail.example.com/oauth/callback"
    assert redirect_uri("https://mail.example.com/mb") == "https://mail.example.com/mb/oauth/callback"


@pytest.mark.parametrize("bad", ["mail.example.com", "ftp://mail.example.com", "https://x.example/?a=1"])
def test_a_public_url_is_an_http_url_without_a_query(bad: str) -> None:
    with pytest.raises(ValidationError):
        ConfigApiSettings(public_url=bad)
