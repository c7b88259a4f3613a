"""OAuth provider request and response bodies."""

from typing import Annotated

from mailbridge.common.oauth_providers import OAuthServerType
from mailbridge.config_api.fields import Name, NoControlCharacters
from mailbridge.config_api.schemas import RequestModel, ResourceOut, example, patch_of
from pydantic import Field, HttpUrl, StringConstraints

# What goes into the token request (tenant in its URL, client id, secret and scopes in its form).
Token = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControlCharacters
]
Scope = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NoControlCharacters
]


class OAuthProviderIn(RequestModel):
    model_config = example(
        name="Microsoft 365", server_type="microsoft365_email", use_default_settings=True,
        tenant="contoso.onmicrosoft.com", client_id="6731de76-14a6-49ae-97bc-6eba6914391e",
        client_secret="client secret from the app registration",  # noqa: S106 (an example)
    )  # fmt: skip
    name: Name
    server_type: OAuthServerType
    use_default_settings: bool = False
    authority: HttpUrl | None = None
    tenant: Token | None = None
    client_id: Token | None = None
    client_secret: Annotated[
        Annotated[str, NoControlCharacters] | None, Field(max_length=1000, description="write-only")
    ] = None
    scopes: Annotated[list[Scope], Field(max_length=50)] = []


class OAuthProviderOut(ResourceOut):
    name: str
    server_type: OAuthServerType
    use_default_settings: bool
    authority: str | None
    tenant: str | None
    client_id: str | None
    has_client_secret: bool
    scopes: list[str]
    effective_authority: str | None
    effective_scopes: list[str]
    redirect_uri: str = Field(
        description="register this at the provider: {MAILBRIDGE_PUBLIC_URL}/oauth/callback"
    )


OAuthProviderPatch = patch_of(OAuthProviderIn)
