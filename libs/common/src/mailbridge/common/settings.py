"""Settings pieces, read from MAILBRIDGE_* variables; each service composes the ones it needs.

Nothing is read at import time: a service builds its settings object once, in its `main.py`.
"""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MAILBRIDGE_"
DEFAULT_VAR_DIR = Path("var")


class MailbridgeSettings(BaseSettings):
    """Base of every settings piece: one prefix, no .env magic, unknown variables ignored."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)


class VarDirSettings(MailbridgeSettings):
    """Where the embedded default keeps its data (database, JetStream store, keys)."""

    var_dir: Path = DEFAULT_VAR_DIR


class DatabaseSettings(MailbridgeSettings):
    """The SQL database; SQLite under the var folder unless a URL is given."""

    database_url: str | None = None
    database_pool_size: int = Field(default=10, ge=1)

    def effective_database_url(self, var_dir: Path) -> str:
        """The configured URL, or the embedded SQLite file inside `var_dir`."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(var_dir / 'mailbridge.db').resolve()}"


class NatsSettings(MailbridgeSettings):
    """The NATS server; an embedded one is started by the runner when no URL is given."""

    nats_url: str | None = None
    nats_connect_timeout_s: float = Field(default=5.0, gt=0)
    nats_publish_timeout_s: float = Field(default=5.0, gt=0)
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)

    def require_nats_url(self) -> str:
        if not self.nats_url:
            raise ValueError("MAILBRIDGE_NATS_URL is not set (`mailbridge run` sets it)")
        return self.nats_url


class SecretSettings(MailbridgeSettings):
    """Keys for secrets at rest: comma-separated Fernet keys, the newest first."""

    secret_key: SecretStr | None = None
    # G6: HMAC keys sealing sent mail, comma-separated, the newest first (common/seal_keys.py)
    seal_key: SecretStr | None = None


class LoggingSettings(MailbridgeSettings):
    """Log level and format (JSON lines unless `log_format` is `text`)."""

    log_level: str = "INFO"
    log_format: str = "json"
