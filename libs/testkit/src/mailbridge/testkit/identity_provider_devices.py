"""The local identity provider's device codes (RFC 8628), for `mailbridge oauth connect --device`.

A device code is pending (`authorization_pending`) until a person enters its user code at the
verification page and signs in (approved) or cancels (`access_denied`); polling sooner than the
interval (less a quarter second of tolerance) is answered `slow_down`, polling after 15 minutes
`expired_token`. An approved code is redeemed once and then forgotten. The clock is injected, so
the unit tests need no waiting.
"""

import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from mailbridge.testkit.identity_provider_errors import OAuthError

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_LIFETIME_S = 900
_POLL_TOLERANCE_S = 0.25


@dataclass
class DeviceAuthorization:
    device_code: str = field(repr=False)
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval_s: int
    login: str | None = None
    declined: bool = False
    last_poll: float | None = None


class DeviceCodes:
    """The device codes handed out and what became of them."""

    def __init__(self, clock: Callable[[], float], interval_s: int) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.interval_s = interval_s
        self._pending: dict[str, DeviceAuthorization] = {}

    def start(self, client_id: str, scopes: tuple[str, ...]) -> DeviceAuthorization:
        user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))
        expires_at = self._clock() + DEVICE_CODE_LIFETIME_S
        device = DeviceAuthorization(
            secrets.token_urlsafe(32), user_code, client_id, scopes, expires_at, self.interval_s
        )
        with self._lock:
            self._pending[device.device_code] = device
        return device

    def decide(self, user_code: str, login: str | None) -> None:
        """Approved by `login`, or declined (None), at the verification page."""
        with self._lock:
            found = [d for d in self._pending.values() if d.user_code == user_code.strip().upper()]
            if not found or found[0].login is not None or found[0].declined:
                raise OAuthError(
                    "invalid_request", "AADSTS70019: The code is unknown, already used or expired."
                )
            if self._clock() > found[0].expires_at:
                raise OAuthError("expired_token", "AADSTS70019: The code has expired.")
            found[0].login, found[0].declined = login, login is None

    def poll(self, client_id: str, device_code: str) -> tuple[str, tuple[str, ...]]:
        """The approving login and the scopes, once; otherwise the RFC 8628 §3.5 error."""
        now = self._clock()
        with self._lock:
            device = self._pending.get(device_code)
            if device is None or device.client_id != client_id:
                raise OAuthError(
                    "invalid_grant", "AADSTS70000: The device code is not valid or already redeemed."
                )
            too_soon = (
                device.last_poll is not None
                and now - device.last_poll < device.interval_s - _POLL_TOLERANCE_S
            )
            device.last_poll = now
            if now > device.expires_at:
                raise OAuthError("expired_token", "AADSTS70020: The device code has expired.")
            if device.declined:
                raise OAuthError("access_denied", "AADSTS70000: The user declined the sign-in request.")
            if device.login is None:
                if too_soon:
                    raise OAuthError("slow_down", "Polled sooner than the interval.")
                raise OAuthError("authorization_pending", "AADSTS70016: The user has not yet signed in.")
            del self._pending[device_code]
            return device.login, device.scopes
