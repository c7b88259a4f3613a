"""The OAuth redirect URI: one rule for what a provider shows and what a connect sends."""

CALLBACK_PATH = "/oauth/callback"


def redirect_uri(public_url: str) -> str:
    """`{MAILBRIDGE_PUBLIC_URL}/oauth/callback`: the URL to register at the provider, where the
    browser comes back with the code."""
    return public_url.rstrip("/") + CALLBACK_PATH
