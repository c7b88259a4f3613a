"""#17: a mail server's provider limits in the API: a preset and the server's own value for each
limit (null: the preset's), and what is in force (`effective_limits`), which every sender and
fetcher replica counts against together (common/provider_limits.py has the presets and sources)."""

from dataclasses import asdict
from typing import Annotated

from mailbridge.common.db.tables import MailServer
from mailbridge.common.provider_limits import LIMIT_FIELDS, LimitsPreset, effective_limits
from mailbridge.config_api.fields import in_range
from pydantic import BaseModel, Field

Limit = Annotated[int, in_range("limits", 1, 1_000_000)] | None


class ProviderLimitsIn(BaseModel):
    limits_preset: LimitsPreset | None = Field(
        default=None, description="#17: microsoft365 or gmail: the provider's published limits; null: none"
    )
    smtp_connections_per_login: Limit = Field(
        default=None, description="every sender together; null: the preset's"
    )
    imap_connections_per_login: Limit = Field(default=None, description="every fetcher together")
    messages_per_minute_per_mailbox: Limit = None
    messages_per_day_per_mailbox: Limit = None
    recipients_per_day_per_mailbox: Limit = None
    messages_per_minute_per_server: Limit = Field(default=None, description="every mailbox of the server")


class EffectiveLimits(BaseModel):
    smtp_connections_per_login: int | None
    imap_connections_per_login: int | None
    messages_per_minute_per_mailbox: int | None
    messages_per_day_per_mailbox: int | None
    recipients_per_day_per_mailbox: int | None
    messages_per_minute_per_server: int | None


class ProviderLimitsOut(BaseModel):
    limits_preset: LimitsPreset | None = None
    smtp_connections_per_login: int | None = None
    imap_connections_per_login: int | None = None
    messages_per_minute_per_mailbox: int | None = None
    messages_per_day_per_mailbox: int | None = None
    recipients_per_day_per_mailbox: int | None = None
    messages_per_minute_per_server: int | None = None
    effective_limits: EffectiveLimits = Field(
        description="#17: the preset with the server's values; null: no limit"
    )


def limits_of(row: MailServer) -> EffectiveLimits:
    overrides = {name: getattr(row, name) for name in LIMIT_FIELDS}
    return EffectiveLimits(**asdict(effective_limits(row.limits_preset, overrides)))
