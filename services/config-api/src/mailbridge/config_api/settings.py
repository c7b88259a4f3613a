"""config-api settings: the shared pieces plus where the HTTP server listens and where browsers
reach it (MAILBRIDGE_PUBLIC_URL, the base of the OAuth redirect URI)."""

import ipaddress

from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from mailbridge.config_api.webhook_delivery.schedule import DEFAULT_DELAYS_S
from pydantic import Field


class ConfigApiSettings(VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings):
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body, except the outbox upload's"
    )
    outbox_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, description="largest mail accepted")
    scheduler_tick_s: float = Field(default=30.0, ge=0, description="0 switches the G2 scheduler off")
    outbox_relay: bool = Field(
        default=True, description="relay this service's outbox events; off where another process does"
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="the URL browsers reach this API at (no query); the OAuth redirect URI is "
        "{public_url}/oauth/callback. `mailbridge run` sets it to the API's own address; unset, "
        "each request's base URL stands in",
    )
    oauth_broker_timeout_s: float = Field(
        default=20.0, gt=0, description="how long a connect or callback waits for the OAuth broker"
    )
    # Webhooks (#18): the delays between a failed delivery's attempts (then it gives up and its
    # endpoint is disabled), how long one attempt may take, how often due deliveries are looked for.
    webhook_retry_schedule_s: tuple[float, ...] = Field(
        default=DEFAULT_DELAYS_S, description="JSON list of seconds, e.g. [60, 300]; about a day in all"
    )
    webhook_timeout_s: float = Field(default=15.0, gt=0, description="one webhook attempt's limit")
    webhook_poll_s: float = Field(default=1.0, ge=0, description="0 switches webhook delivery off")

    def local_base_url(self) -> str:
        """The API's own address as this host reaches it (an unspecified listen address becomes
        loopback): what `mailbridge run` hands down as MAILBRIDGE_PUBLIC_URL when none is set."""
        host = self.api_host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:  # a name, e.g. localhost
            return f"http://{host}:{self.api_port}"
        if address.is_unspecified:
            address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"http://{host}:{self.api_port}"
