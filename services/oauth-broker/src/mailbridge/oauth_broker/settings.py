"""OAuth broker settings: the shared pieces plus refresh timing, the flows' lifetime, the
installation's Microsoft 365 app registration (O1) and the extra CA the identity provider may need."""

from pathlib import Path

from mailbridge.common.ops_http import OpsSettings
from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from pydantic import Field, SecretStr


class OAuthBrokerSettings(
    VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings, OpsSettings
):
    token_request_workers: int = Field(default=16, ge=1, le=256, description="requests answered at once")
    # An access token with less than this left is refreshed before it is handed out (O4).
    token_refresh_margin_s: float = Field(default=300.0, ge=0)
    # One call to the identity provider (discovery plus token endpoint), msal running in a thread.
    oauth_provider_timeout_s: float = Field(default=20.0, gt=0)
    # A started connect or device flow (state, PKCE verifier, nonce) is forgotten after this.
    oauth_flow_ttl_s: float = Field(default=600.0, gt=0)
    # The background refresher: grants not refreshed for keep_alive_after_s are refreshed, a
    # batch every keep_alive_every_s, so refresh tokens of idle accounts do not lapse.
    oauth_keep_alive_after_s: float = Field(default=24 * 3600.0, gt=0)
    oauth_keep_alive_every_s: float = Field(default=300.0, gt=0)
    oauth_keep_alive_batch: int = Field(default=20, ge=1, le=1000)
    # "Use default settings" (O1): the installation's Microsoft 365 app registration.
    oauth_m365_client_id: str | None = None
    oauth_m365_client_secret: SecretStr | None = None
    # Trusted besides the system's CAs for the identity provider (a PEM bundle, several CAs allowed).
    extra_ca_file: Path | None = None
