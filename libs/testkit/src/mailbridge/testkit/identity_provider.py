"""A small Entra-shaped OAuth 2.0 / OpenID Connect provider for the tests, over TLS on loopback.

`start_identity_provider()` serves identity_provider_app with uvicorn in a thread of the test
process (so the test can register clients and users, revoke grants and read counters directly)
on a free port of 127.0.0.1, with testkit's cached certificate: clients trust `ca_file`.
`authority` is what msal takes (with `instance_discovery=False`, or it asks Microsoft's
discovery host, which the loopback guard refuses) and what a provider row's `authority` holds.
Tokens are RS256 JWTs (identity_provider_tokens), the rules are in identity_provider_grants.
"""

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from mailbridge.testkit.identity_provider_app import build_app
from mailbridge.testkit.identity_provider_browser import submit_device_code, submit_sign_in
from mailbridge.testkit.identity_provider_grants import IdentityState
from mailbridge.testkit.identity_provider_responses import IssuingProvider
from mailbridge.testkit.identity_provider_tokens import SigningKey
from mailbridge.testkit.tls import TlsFiles, ensure_tls_files

DEFAULT_TENANT = "organizations"


class LocalIdentityProvider:
    """The running provider: its URLs and keys, and the test's levers on its state."""

    def __init__(self, issuing: IssuingProvider, tenant: str, ca_file: Path, server: uvicorn.Server) -> None:
        self._issuing = issuing
        self._state = issuing.state
        self._server = server
        self._thread: threading.Thread | None = None
        self.base_url = issuing.base_url
        self.tenant = tenant
        self.tenant_id = issuing.tenant_id
        self.authority = f"{issuing.base_url}/{tenant}"
        self.issuer = issuing.issuer
        self.ca_file = ca_file
        self.signing_key_id = issuing.key.key_id
        self.public_key_pem = issuing.key.public_pem
        self.introspection_url = f"{self.authority}/oauth2/v2.0/introspect"
        self.device_login_url = f"{issuing.base_url}/devicelogin"

    def __repr__(self) -> str:
        return f"LocalIdentityProvider(authority={self.authority!r})"

    @property
    def access_token_lifetime_s(self) -> int:
        return self._state.access_token_lifetime_s

    @access_token_lifetime_s.setter
    def access_token_lifetime_s(self, seconds: int) -> None:
        self._state.access_token_lifetime_s = seconds

    def register_client(self, client_id: str, client_secret: str | None, redirect_uris: list[str]) -> None:
        """A confidential client (with a secret) or a public one (None, e.g. for the device flow)."""
        self._state.register_client(client_id, client_secret, redirect_uris)

    def add_user(self, login: str, password: str) -> None:
        self._state.add_user(login, password)

    def disable_user(self, login: str) -> None:
        """Its refresh now fails with invalid_grant (AADSTS50057); its access tokens turn inactive."""
        self._state.disable_user(login)

    def revoke(self, login: str) -> None:
        """Every refresh token (invalid_grant, AADSTS70000) and access token (inactive) of the user."""
        self._state.revoke(login)

    def mint_access_token(self, login: str, scopes: list[str], expires_in_s: int = 3600) -> str:
        """A signed access token for `login` without any flow (a negative lifetime: already expired)."""
        return self._issuing.mint_access_token(login, tuple(scopes), "mailbridge-tests", expires_in_s)

    def grants_redeemed(self, login: str, grant_type: str) -> int:
        """How many token requests of `grant_type` ("authorization_code", "refresh_token", the
        device code grant's URN) succeeded for the user."""
        return self._state.grants_redeemed(login, grant_type)

    def browser_sign_in(
        self, authorization_url: str, login: str, password: str, *, accept: bool = True
    ) -> str:
        """Sign in at `authorization_url` as a browser would; the callback URL it redirects to."""
        return submit_sign_in(authorization_url, self.ca_file, login, password, accept)

    def approve_device_code(self, user_code: str, login: str, password: str, *, accept: bool = True) -> None:
        """Enter `user_code` at the verification page, sign in, accept (or decline)."""
        submit_device_code(self.device_login_url, self.ca_file, user_code, login, password, accept)

    def serve(self, sockets: list[socket.socket], timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(
            target=self._server.run, args=(sockets,), name="identity-provider", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the local identity provider did not start at {self.base_url}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop at once: clients keep TLS connections alive, and waiting for them to close would
        cost the graceful timeout for nothing at the end of a session."""
        self._server.should_exit = True
        self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10.0)


def start_identity_provider(
    *, tenant: str = DEFAULT_TENANT, tls: TlsFiles | None = None, device_interval_s: int = 1
) -> LocalIdentityProvider:
    """Start a provider on a free port of 127.0.0.1; `stop()` it (or use `running_identity_provider`)."""
    tls = tls or ensure_tls_files()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    base_url = f"https://127.0.0.1:{listener.getsockname()[1]}"
    state = IdentityState(device_interval_s=device_interval_s)
    issuing = IssuingProvider(state, SigningKey.generate(), base_url, str(uuid.uuid4()))
    config = uvicorn.Config(
        build_app(issuing), ssl_certfile=str(tls.server_cert), ssl_keyfile=str(tls.server_key),
        log_level="warning", access_log=False, lifespan="off", loop="asyncio", http="h11",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    provider = LocalIdentityProvider(issuing, tenant, tls.ca_cert, uvicorn.Server(config))
    try:
        provider.serve([listener])
    except BaseException:
        provider.stop()
        listener.close()
        raise
    return provider


@contextmanager
def running_identity_provider(
    *, tenant: str = DEFAULT_TENANT, device_interval_s: int = 1
) -> Iterator[LocalIdentityProvider]:
    """A running provider for the `with` block."""
    provider = start_identity_provider(tenant=tenant, device_interval_s=device_interval_s)
    try:
        yield provider
    finally:
        provider.stop()
