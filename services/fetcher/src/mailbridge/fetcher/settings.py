"""Fetcher settings: the shared pieces plus concurrency, batch bounds and TLS trust."""

from pathlib import Path

from mailbridge.common.consumers import FETCH_LEASE_TTL_S
from mailbridge.common.ops_http import OpsSettings
from mailbridge.common.settings import (
    DatabaseSettings,
    LoggingSettings,
    NatsSettings,
    SecretSettings,
    VarDirSettings,
)
from mailbridge.fetcher.sync import BYTES_IN_FLIGHT, MAX_MESSAGE_BYTES
from pydantic import Field


class FetcherSettings(
    VarDirSettings, DatabaseSettings, NatsSettings, SecretSettings, LoggingSettings, OpsSettings
):
    fetch_workers: int = Field(default=8, ge=1, le=256, description="accounts fetched at once")
    fetch_batch_count: int = Field(default=100, ge=1, le=1000)
    fetch_batch_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    fetch_timeout_s: float = Field(default=30.0, gt=0, description="per IMAP step; connect+login: twice")
    # A larger message is listed as skipped in the fetch state, not downloaded (#10 item 3).
    fetch_max_message_bytes: int = Field(default=MAX_MESSAGE_BYTES, ge=1024)
    # Message bytes downloaded and not yet committed, across all of the process's fetches.
    fetch_bytes_in_flight: int = Field(default=BYTES_IN_FLIGHT, ge=1024 * 1024)
    fetch_max_deliver: int = Field(default=20, ge=1)
    fetch_lease_ttl_s: float = Field(
        default=FETCH_LEASE_TTL_S, gt=0,
        description="how long a killed fetcher blocks its account; renewed every third; the fetch "
        "durable's ack wait follows it (common.consumers.fetch_ack_wait_s)",
    )  # fmt: skip
    # Logged-in IMAP connections kept for the next fetch of the same account (0: none). Idle ones
    # are closed after the idle time: above the default 15-minute schedule, below the 30 minutes
    # after which RFC 3501 lets a server log an idle client out.
    imap_keep_connections: int = Field(default=100, ge=0)
    # … and at most this many to one server (host and port): a server bounds its sessions in all
    # (Dovecot: 100 by default, shared with people's mail programs), and every replica keeps its own.
    imap_keep_connections_per_server: int = Field(default=20, ge=0)
    imap_connection_idle_s: float = Field(default=1200.0, gt=0)
    # #18 IMAP IDLE push: IDLE connections this replica holds at most (0: none; the other accounts
    # are polled on the schedule), DONE + IDLE after this long (below the server's 29 minutes),
    # and the TTL of the IDLE lease (a killed replica's accounts move after it; renewed every third).
    imap_idle_max: int = Field(default=100, ge=0)
    imap_idle_reissue_s: float = Field(default=1500.0, gt=0, le=1740)
    imap_idle_lease_ttl_s: float = Field(default=30.0, gt=0)
    # O4: how long a login waits for the OAuth broker's access token before retrying later.
    oauth_token_timeout_s: float = Field(default=5.0, gt=0)
    # S9: verification always on; an admin may trust an extra CA (e.g. a private mail server).
    extra_ca_file: Path | None = None
