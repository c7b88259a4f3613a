"""OAuth 2.0 provider facts as data (O1): what "use default settings" means for each type."""

from dataclasses import dataclass
from enum import StrEnum


class OAuthServerType(StrEnum):
    MICROSOFT365_EMAIL = "microsoft365_email"
    GENERIC_OIDC = "generic_oidc"


@dataclass(frozen=True)
class ProviderDefaults:
    authority_template: str
    default_tenant: str
    scopes: tuple[str, ...]

    def authority(self, tenant: str | None) -> str:
        return self.authority_template.format(tenant=tenant or self.default_tenant)


# Microsoft 365 mailboxes over IMAP, POP3 and SMTP AUTH (XOAUTH2); offline_access for refresh
# tokens. "organizations" accepts work and school accounts of any tenant.
MICROSOFT365 = ProviderDefaults(
    authority_template="https://login.microsoftonline.com/{tenant}",
    default_tenant="organizations",
    scopes=(
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "https://outlook.office.com/POP.AccessAsUser.All",
        "https://outlook.office.com/SMTP.Send",
        "offline_access",
    ),
)

DEFAULTS: dict[OAuthServerType, ProviderDefaults] = {OAuthServerType.MICROSOFT365_EMAIL: MICROSOFT365}


def effective_authority(
    server_type: OAuthServerType, use_default_settings: bool, authority: str | None, tenant: str | None
) -> str | None:
    """The authority to use: the given one, else the type's default (with the tenant, if any)."""
    defaults = DEFAULTS.get(server_type)
    if authority:
        return authority
    if defaults and (use_default_settings or tenant):
        return defaults.authority(tenant)
    return None


def effective_scopes(server_type: OAuthServerType, scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The scopes to ask for: the given ones, else the type's defaults — with or without "use
    default settings": a Microsoft 365 provider without scopes asks for IMAP, POP, SMTP and
    offline_access."""
    if scopes:
        return tuple(scopes)
    defaults = DEFAULTS.get(server_type)
    return defaults.scopes if defaults else ()
