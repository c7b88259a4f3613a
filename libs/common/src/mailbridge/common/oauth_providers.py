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
