"""OAuth broker settings: the shared pieces plus how many token requests are answered at once."""

from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from pydantic import Field


class OAuthBrokerSettings(VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings):
    # The database and secret key hold the encrypted token caches once the connect flow exists (#13).
    token_request_workers: int = Field(default=16, ge=1, le=256, description="requests answered at once")
