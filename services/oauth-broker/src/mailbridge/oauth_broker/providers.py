"""Which app registration, authority and scopes a provider row means for msal (O1, S2): pure.

A Microsoft 365 provider with "use default settings" may leave its client id empty: the
installation's app registration (MAILBRIDGE_OAUTH_M365_CLIENT_ID / _SECRET) is used. msal adds
openid, profile and offline_access itself and refuses them in a request, so they are removed
from the effective scopes (offline_access is asked for all the same: msal always adds it).
"""

from dataclasses import dataclass, field

from mailbridge.common.oauth_providers import OAuthServerType, effective_authority, effective_scopes

MSAL_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
INSTALLATION_SETTINGS = "MAILBRIDGE_OAUTH_M365_CLIENT_ID and MAILBRIDGE_OAUTH_M365_CLIENT_SECRET"


@dataclass(frozen=True)
class InstallationApp:
    """The installation's own Microsoft 365 app registration, from the settings (O1)."""

    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProviderRow:
    """An oauth_providers row as stored, its client secret decrypted."""

    server_type: str
    use_default_settings: bool
    authority: str | None
    tenant: str | None
    client_id: str | None
    client_secret: str | None = field(repr=False)
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class ProviderConfig:
    """What msal is built from: `oidc` selects msal's `oidc_authority` (generic_oidc)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    authority: str
    oidc: bool
    scopes: tuple[str, ...]


def msal_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """`scopes` without those msal reserves (it adds them itself), order kept."""
    return tuple(scope for scope in scopes if scope not in MSAL_RESERVED_SCOPES)


def provider_config(row: ProviderRow, installation: InstallationApp) -> ProviderConfig | str:
    """The msal configuration of `row`, or why there is none (for a person to read)."""
    try:
        server_type = OAuthServerType(row.server_type)
    except ValueError:
        return f"the OAuth provider's server type {row.server_type!r} is not supported"
    authority = effective_authority(server_type, row.use_default_settings, row.authority, row.tenant)
    if not authority:
        return "the OAuth provider has no authority: set its authority (an https URL)"
    client_id, client_secret = row.client_id, row.client_secret
    if not client_id and server_type is OAuthServerType.MICROSOFT365_EMAIL and row.use_default_settings:
        client_id, client_secret = installation.client_id, installation.client_secret
        if not client_id:
            return (
                "the OAuth provider uses default settings (O1) but this installation has no "
                f"Microsoft 365 app registration: set {INSTALLATION_SETTINGS}"
            )
    if not client_id:
        return "the OAuth provider has no client id: set it (the app registration's id)"
    scopes = msal_scopes(effective_scopes(server_type, row.scopes))
    if not scopes:
        return "the OAuth provider asks for no scope: set its scopes"
    oidc = server_type is OAuthServerType.GENERIC_OIDC
    return ProviderConfig(client_id, client_secret or None, authority, oidc, scopes)
