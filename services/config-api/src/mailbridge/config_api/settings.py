"""config-api settings: the shared pieces plus where the HTTP server listens."""

from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
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
