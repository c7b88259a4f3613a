"""The local identity provider's memory: users, clients, codes, refresh tokens, device codes.

What it enforces, as Entra does or stricter so a careless client is caught:
- an authorization code is redeemed once, within 60 s, by the client it was issued to, with the
  same redirect_uri and a PKCE verifier matching the challenge;
- refresh tokens rotate strictly: each refresh returns a new one and the old one is refused from
  then on (a client that does not store the rotated token fails at its next refresh);
- `revoke(login)` ends every refresh token and access token of that user (introspection answers
  inactive), a disabled user's refresh fails with AADSTS50057; a later sign-in works again;
- device codes: see identity_provider_devices.
Errors are `OAuthError`s carrying the RFC 6749 code and an Entra-style AADSTS description. Every
method takes the lock: the provider's server thread and the test's thread share one instance.
"""

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mailbridge.testkit.identity_provider_devices import DeviceAuthorization, DeviceCodes
from mailbridge.testkit.identity_provider_errors import OAuthError
from mailbridge.testkit.identity_provider_tokens import pkce_matches

CODE_LIFETIME_S = 60

REVOKED = "AADSTS70000: The user or administrator has revoked the grant; a new sign-in is needed."
DISABLED = "AADSTS50057: User account is disabled."
ROTATED = "AADSTS70000: The refresh token was already redeemed and replaced by a newer one."


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None = field(repr=False)
    redirect_uris: frozenset[str]


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the authorize endpoint was asked for (validated client and redirect_uri)."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass(frozen=True)
class Grant:
    """What a successful token request hands out tokens for."""

    login: str
    client_id: str
    scopes: tuple[str, ...]
    nonce: str | None = None
    asked: tuple[str, ...] | None = None  # a refresh may ask for fewer scopes than granted

    @property
    def token_scopes(self) -> tuple[str, ...]:
        return self.asked or self.scopes

    @property
    def offline(self) -> bool:
        return "offline_access" in self.scopes


@dataclass(frozen=True)
class _Code:
    request: AuthorizationRequest
    login: str
    issued_at: float


class IdentityState:
    """The provider's whole state; `clock` is injectable so unit tests need no waiting."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, device_interval_s: int = 1) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.devices = DeviceCodes(clock, device_interval_s)
        self.access_token_lifetime_s = 3600
        self._clients: dict[str, Client] = {}
        self._users: dict[str, tuple[str, str]] = {}  # lower-case login → (login as added, password)
        self._disabled: set[str] = set()
        self._codes: dict[str, _Code | None] = {}  # None: already redeemed
        self._refresh: dict[str, Grant] = {}
        self._dead_refresh: dict[str, str] = {}  # token → why it is refused
        self._access: dict[str, str] = {}  # jti → login
        self._revoked_access: set[str] = set()
        self._redeemed: Counter[tuple[str, str]] = Counter()

    def now(self) -> float:
        return self._clock()

    # --- set-up by tests -------------------------------------------------------------------
    def register_client(self, client_id: str, secret: str | None, redirect_uris: list[str]) -> None:
        with self._lock:
            self._clients[client_id] = Client(client_id, secret, frozenset(redirect_uris))

    def add_user(self, login: str, password: str) -> None:
        with self._lock:
            self._users[login.lower()] = (login, password)
            self._disabled.discard(login.lower())

    def disable_user(self, login: str) -> None:
        with self._lock:
            self._disabled.add(login.lower())

    def revoke(self, login: str) -> None:
        with self._lock:
            for token, grant in list(self._refresh.items()):
                if grant.login.lower() == login.lower():
                    del self._refresh[token]
                    self._dead_refresh[token] = REVOKED
            self._revoked_access |= {jti for jti, owner in self._access.items() if owner == login.lower()}

    def grants_redeemed(self, login: str, grant_type: str) -> int:
        with self._lock:
            return self._redeemed[(login.lower(), grant_type)]

    # --- the authorize endpoint ------------------------------------------------------------
    def client_for(self, client_id: str, redirect_uri: str | None) -> Client:
        """The registered client, when `redirect_uri` is one of its own (never redirect otherwise)."""
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise OAuthError("unauthorized_client", f"AADSTS700016: Application '{client_id}' was not found.")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request", f"AADSTS50011: The redirect URI '{redirect_uri}' is not registered."
            )
        return client

    def sign_in(self, login: str, password: str) -> str:
        """The login as it was added (any case signs in, as at Entra), when the password is right
        and the account enabled."""
        with self._lock:
            login_as_added, known = self._users.get(login.lower(), (login, None))
            if known is None or not secrets.compare_digest(known, password):
                raise OAuthError("invalid_grant", "AADSTS50126: Your account or password is incorrect.")
            if login.lower() in self._disabled:
                raise OAuthError("invalid_grant", DISABLED)
        return login_as_added

    def issue_code(self, request: AuthorizationRequest, login: str) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(request, login, self._clock())
        return code

    # --- the token endpoint ----------------------------------------------------------------
    def authenticate_client(self, client_id: str, secret: str | None) -> Client:
        with self._lock:
            client = self._clients.get(client_id)
        if client is None:
            raise OAuthError("unauthorized_client", f"AADSTS700016: Application '{client_id}' was not found.")
        if client.secret is not None:
            if secret is None:
                raise OAuthError(
                    "invalid_client", "AADSTS7000218: The request must contain 'client_secret'.", 401
                )
            if not secrets.compare_digest(client.secret, secret):
                raise OAuthError("invalid_client", "AADSTS7000215: Invalid client secret provided.", 401)
        return client

    def redeem_code(self, client: Client, code: str, redirect_uri: str | None, verifier: str | None) -> Grant:
        with self._lock:
            if code not in self._codes:
                raise OAuthError(
                    "invalid_grant", "AADSTS70000: The provided authorization code is not valid."
                )
            issued = self._codes[code]
            self._codes[code] = None
        if issued is None:
            raise OAuthError("invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed.")
        if self._clock() - issued.issued_at > CODE_LIFETIME_S:
            raise OAuthError("invalid_grant", "AADSTS70008: The provided authorization code has expired.")
        request = issued.request
        if request.client_id != client.client_id:
            raise OAuthError("invalid_grant", "AADSTS70000: The code was issued to another client.")
        if redirect_uri != request.redirect_uri:
            raise OAuthError(
                "invalid_grant", "AADSTS50148: The redirect_uri does not match the authorize request."
            )
        if not pkce_matches(verifier, request.code_challenge, request.code_challenge_method):
            raise OAuthError(
                "invalid_grant", "AADSTS501481: The code_verifier does not match the code_challenge."
            )
        return self._refusing_disabled(Grant(issued.login, client.client_id, request.scopes, request.nonce))

    def redeem_refresh(self, client: Client, token: str, requested: tuple[str, ...]) -> Grant:
        """The grant behind `token`, which is used up (rotation); its access token carries the
        `requested` scopes (within the grant), its refresh token the whole grant again."""
        with self._lock:
            grant = self._refresh.get(token)
            if grant is None or grant.client_id != client.client_id:
                raise OAuthError(
                    "invalid_grant", self._dead_refresh.get(token, "AADSTS9002313: Invalid refresh token.")
                )
            if grant.login.lower() in self._disabled:
                raise OAuthError("invalid_grant", DISABLED)
            beyond = set(requested) - set(grant.scopes) - {"openid", "profile", "offline_access"}
            if beyond:
                raise OAuthError("invalid_grant", f"AADSTS65001: No consent for {' '.join(sorted(beyond))}.")
            del self._refresh[token]
            self._dead_refresh[token] = ROTATED
        return Grant(grant.login, grant.client_id, grant.scopes, asked=requested or None)

    def _refusing_disabled(self, grant: Grant) -> Grant:
        with self._lock:
            if grant.login.lower() in self._disabled:
                raise OAuthError("invalid_grant", DISABLED)
        return grant

    def issue_refresh(self, grant: Grant) -> str:
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._refresh[token] = replace(grant, nonce=None, asked=None)
        return token

    def record_access_token(self, token_id: str, login: str) -> None:
        with self._lock:
            self._access[token_id] = login.lower()

    def access_token_active(self, token_id: str, login: str) -> bool:
        with self._lock:
            return token_id not in self._revoked_access and login.lower() not in self._disabled

    def count_redeemed(self, login: str, grant_type: str) -> None:
        with self._lock:
            self._redeemed[(login.lower(), grant_type)] += 1

    # --- the device flow (RFC 8628) ---------------------------------------------------------
    def start_device(self, client: Client, scopes: tuple[str, ...]) -> DeviceAuthorization:
        return self.devices.start(client.client_id, scopes)

    def decide_device(self, user_code: str, login: str | None) -> None:
        """A person at the verification page approved (`login`) or declined (None) the code."""
        self.devices.decide(user_code, login)

    def poll_device(self, client: Client, device_code: str) -> Grant:
        login, scopes = self.devices.poll(client.client_id, device_code)
        return self._refusing_disabled(Grant(login, client.client_id, scopes))
