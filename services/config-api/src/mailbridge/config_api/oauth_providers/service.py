"""OAuth provider rules: unique name, O1 defaults; client secret encrypted, never returned."""

from typing import Any

from mailbridge.common.db.tables import MailServer, OAuthProvider
from mailbridge.common.oauth_providers import DEFAULTS, OAuthServerType, effective_authority, effective_scopes
from mailbridge.config_api.errors import FieldProblem
from mailbridge.config_api.oauth_connect.redirect import redirect_uri
from mailbridge.config_api.oauth_providers.schemas import (
    OAuthProviderIn,
    OAuthProviderOut,
    OAuthProviderPatch,
)
from mailbridge.config_api.resource import Blockers, Ctx, ResourceService
from mailbridge.config_api.store import duplicate
from sqlalchemy import select

SECRET = "client_secret"


def default_settings_problems(data: OAuthProviderIn) -> list[FieldProblem | None]:
    """O1: "use default settings" exists for Microsoft 365 only; otherwise say where and who."""
    if data.use_default_settings:
        if data.server_type in DEFAULTS:
            return []
        return [
            FieldProblem("use_default_settings", "O1", "default settings exist only for microsoft365_email")
        ]
    return [
        FieldProblem(name, "O1", f"{name} is required without default settings")
        for name in ("authority", "client_id")
        if getattr(data, name) is None
    ]


class OAuthProviders(ResourceService[OAuthProvider, OAuthProviderIn, OAuthProviderOut]):
    what = "OAuth provider"
    model = OAuthProvider
    in_model = OAuthProviderIn
    patch_model = OAuthProviderPatch
    out_model = OAuthProviderOut
    write_only = frozenset({SECRET})

    async def current_input(self, ctx: Ctx, row: OAuthProvider) -> dict[str, Any]:
        current = await super().current_input(ctx, row)
        return current | {SECRET: None}

    async def problems(
        self, ctx: Ctx, data: OAuthProviderIn, row: OAuthProvider | None
    ) -> list[FieldProblem | None]:
        current = row.id if row else None
        return [
            await duplicate(ctx.session, OAuthProvider.name, data.name, current, "name"),
            *default_settings_problems(data),
        ]

    async def write(self, ctx: Ctx, row: OAuthProvider, data: OAuthProviderIn, given: set[str]) -> None:
        row.name, row.server_type = data.name, data.server_type.value
        row.use_default_settings = data.use_default_settings
        row.authority = str(data.authority) if data.authority else None
        row.tenant, row.client_id, row.scopes = data.tenant, data.client_id, list(data.scopes)
        if SECRET in given:
            row.client_secret_encrypted = (
                ctx.secrets.encrypt(data.client_secret) if data.client_secret else None
            )

    async def render(self, ctx: Ctx, row: OAuthProvider) -> OAuthProviderOut:
        server_type = OAuthServerType(row.server_type)
        return OAuthProviderOut(
            id=row.id,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            name=row.name,
            server_type=OAuthServerType(row.server_type),
            use_default_settings=row.use_default_settings,
            authority=row.authority,
            tenant=row.tenant,
            client_id=row.client_id,
            has_client_secret=row.client_secret_encrypted is not None,
            scopes=row.scopes,
            effective_authority=effective_authority(
                server_type, row.use_default_settings, row.authority, row.tenant
            ),
            effective_scopes=list(effective_scopes(server_type, row.scopes)),
            redirect_uri=redirect_uri(ctx.public_url),
        )

    async def blockers(self, ctx: Ctx, row: OAuthProvider) -> Blockers | None:
        servers = list(
            await ctx.session.scalars(select(MailServer.id).where(MailServer.oauth_provider_id == row.id))
        )
        return Blockers("mail servers", servers) if servers else None
