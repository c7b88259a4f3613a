"""pytest fixtures for OAuth: the local identity provider, fresh clients and users, and the
loopback guard, which is on for the whole session from `pytest_configure` (issue #13: nothing of
Microsoft's is reachable from the tests).

One provider serves the session; each test registers its own client and user with unique names
(`oauth_client`, `oauth_user`), so tests do not see each other's grants.
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from mailbridge.testkit.identity_provider import LocalIdentityProvider, running_identity_provider
from mailbridge.testkit.loopback_guard import GUARD

CALLBACK_URL = "http://127.0.0.1/oauth/callback"


def pytest_configure(config: pytest.Config) -> None:
    GUARD.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    GUARD.remove()


@dataclass(frozen=True)
class OAuthClient:
    """An application registered at the provider."""

    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True)
class OAuthUser:
    """A person who can sign in at the provider."""

    login: str
    password: str = field(repr=False)


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[LocalIdentityProvider]:
    """The session's local Entra-shaped provider over TLS on loopback (see identity_provider)."""
    with running_identity_provider() as provider:
        yield provider


@pytest.fixture
def oauth_client(identity_provider: LocalIdentityProvider) -> OAuthClient:
    """A fresh confidential client whose one redirect_uri is CALLBACK_URL."""
    client = OAuthClient(f"client-{secrets.token_hex(6)}", secrets.token_urlsafe(24), CALLBACK_URL)
    identity_provider.register_client(client.client_id, client.client_secret, [client.redirect_uri])
    return client


@pytest.fixture
def oauth_public_client(identity_provider: LocalIdentityProvider) -> OAuthClient:
    """A fresh public client (no secret), as the device flow on the command line uses."""
    client = OAuthClient(f"public-{secrets.token_hex(6)}", None, CALLBACK_URL)
    identity_provider.register_client(client.client_id, None, [client.redirect_uri])
    return client


@pytest.fixture
def oauth_user(identity_provider: LocalIdentityProvider) -> OAuthUser:
    """A fresh user of the provider: a random login on example.org, a random password."""
    user = OAuthUser(f"user-{secrets.token_hex(6)}@example.org", secrets.token_urlsafe(12))
    identity_provider.add_user(user.login, user.password)
    return user
