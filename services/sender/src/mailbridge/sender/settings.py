"""Sender settings: the shared pieces plus the pool, concurrency and TLS trust."""

from pathlib import Path

from mailbridge.common.ops_http import OpsSettings
from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from mailbridge.sender.retry_policy import SEND_LIMIT_WAIT_S
from mailbridge.sender.send_outbox import BYTES_IN_FLIGHT
from pydantic import Field


class SenderSettings(
    VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings, OpsSettings
):
    send_pool: str = Field(default="default", pattern="^(default|egress)$", description="S6")
    send_workers: int = Field(default=256, ge=1, le=1024, description="mails in flight per process")
    smtp_connections_per_server: int = Field(default=8, ge=1, le=64, description="per server and login")
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # A sender renews its claims every third of this, so only a dead sender's claim gets this old.
    send_stale_after_s: float = Field(
        default=30.0, gt=0, description="a `sending` row whose claim was not renewed this long is retried"
    )
    send_sweep_every_s: float = Field(default=10.0, gt=0, description="how often stuck rows are looked for")
    send_sweep_after_s: float = Field(
        default=30.0, gt=0, description="a never-claimed `queued` row this old is requested again"
    )
    send_max_bytes_in_flight: int = Field(
        default=BYTES_IN_FLIGHT, ge=1024 * 1024, description="memory for mails in flight (8× stored size)"
    )
    send_ack_wait_s: float = Field(
        default=120.0, gt=0, description="redelivery after a crash (new consumers)"
    )
    # #17: a mail whose turn under its provider's limits comes within this waits in the sender;
    # a later one goes back to the queue until its turn (no attempt spent either way).
    send_limit_wait_s: float = Field(
        default=SEND_LIMIT_WAIT_S, ge=0, le=3600, description="longest wait for a limit's turn in process"
    )
    # O4: how long a login waits for the OAuth broker's access token before retrying later.
    oauth_token_timeout_s: float = Field(default=5.0, gt=0)
    # A12: out-of-office decisions in flight per process (each a read or two and one transaction).
    auto_reply_workers: int = Field(default=16, ge=1, le=256)
    extra_ca_file: Path | None = None  # S9: verification stays on; an admin may trust one more CA
