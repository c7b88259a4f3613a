"""Sender settings: the shared pieces plus the pool, concurrency and TLS trust."""

from pathlib import Path

from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from pydantic import Field


class SenderSettings(VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings):
    send_pool: str = Field(default="default", pattern="^(default|egress)$", description="S6")
    send_workers: int = Field(default=256, ge=1, le=1024, description="mails in flight per process")
    smtp_connections_per_server: int = Field(default=8, ge=1, le=64, description="per server and login")
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    send_stale_after_s: float = Field(
        default=300.0, gt=0, description="a `sending` row older than this is retried"
    )
    send_ack_wait_s: float = Field(
        default=120.0, gt=0, description="redelivery after a crash (new consumers)"
    )
    extra_ca_file: Path | None = None  # S9: verification stays on; an admin may trust one more CA
