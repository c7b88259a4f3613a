"""Provider limits as data: what Microsoft 365 and Gmail allow one mailbox, each overridable on
the mail server (`mail_servers.limits_preset` and one column per limit; null: the preset's value).

Every replica of the sender and the fetcher counts against the same limits (`shared_limits`): a
provider counts what a mailbox does, not what one process does. A limit of None is no limit of
ours (the pool's own `MAILBRIDGE_SMTP_CONNECTIONS_PER_SERVER` still bounds a process).

Sources (read 2026-12):
- Microsoft 365 / Exchange Online, SMTP AUTH client submission: three concurrent connections per
  mailbox ("432 4.3.2 Concurrent connections limit exceeded"), 30 messages a minute, 10,000
  recipients a day; learn.microsoft.com/en-us/exchange/troubleshoot/send-emails/
  smtp-submission-improvements. About 20 concurrent IMAP connections per mailbox (Exchange Online
  limits). Exceeded: 421/4.7.x or 432 4.3.2.
- Gmail (Google Workspace): 2,000 messages a day, 10,000 recipients a day, over a rolling 24 hours
  (support.google.com/a/answer/166852, "Gmail sending limits in Google Workspace"); 15
  simultaneous IMAP connections per account (Gmail Help "Too many simultaneous connections"; an
  older version of that page said 10). Google publishes no per-minute or SMTP connection limit.
"""

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum


class LimitsPreset(StrEnum):
    MICROSOFT365 = "microsoft365"
    GMAIL = "gmail"


@dataclass(frozen=True)
class ProviderLimits:
    smtp_connections_per_login: int | None = None  # per server and login, every sender together
    imap_connections_per_login: int | None = None  # per server and login, every fetcher together
    messages_per_minute_per_mailbox: int | None = None
    messages_per_day_per_mailbox: int | None = None
    recipients_per_day_per_mailbox: int | None = None
    messages_per_minute_per_server: int | None = None  # every mailbox of the SMTP server together


LIMIT_FIELDS = tuple(f.name for f in fields(ProviderLimits))
NO_LIMITS = ProviderLimits()
PRESETS: dict[LimitsPreset, ProviderLimits] = {
    LimitsPreset.MICROSOFT365: ProviderLimits(
        smtp_connections_per_login=3,
        imap_connections_per_login=20,
        messages_per_minute_per_mailbox=30,
        recipients_per_day_per_mailbox=10_000,
    ),
    LimitsPreset.GMAIL: ProviderLimits(
        imap_connections_per_login=15,
        messages_per_day_per_mailbox=2_000,
        recipients_per_day_per_mailbox=10_000,
    ),
}


def effective_limits(preset: str | None, overrides: Mapping[str, int | None]) -> ProviderLimits:
    """The preset's limits (none without one), each replaced by the server's own value where set."""
    base = PRESETS[LimitsPreset(preset)] if preset else NO_LIMITS
    given = {name: overrides[name] for name in LIMIT_FIELDS if overrides.get(name) is not None}
    return replace(base, **given)
