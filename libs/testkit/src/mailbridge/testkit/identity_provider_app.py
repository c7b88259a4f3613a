"""The local identity provider's HTTP routes, shaped like Entra ID's v2.0 endpoints.

Under a tenant path segment (any; "organizations" by default), as msal expects of an authority:
`/{tenant}/v2.0/.well-known/openid-configuration` (msal reads it in its constructor),
`/{tenant}/discovery/v2.0/keys`, `/{tenant}/oauth2/v2.0/{authorize,token,devicecode,introspect}`,
and the device flow's verification page `/devicelogin`. An unknown client or a redirect_uri not
registered for it gets an error page, never a redirect (RFC 6749 §4.1.2.1). Token errors are
JSON `{error, error_description, error_codes}` with Entra's AADSTS codes. Introspection (RFC
7662, for Dovecot's passdb oauth2) needs no client authentication: it only ever listens on
loopback, and Dovecot then needs no secret; it accepts `token` as form field (POST), query
parameter or bearer header (GET).
"""

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from mailbridge.testkit.identity_provider_devices import DEVICE_CODE_GRANT
from mailbridge.testkit.identity_provider_errors import OAuthError
from mailbridge.testkit.identity_provider_grants import AuthorizationRequest
from mailbridge.testkit.identity_provider_pages import device_page, done_page, error_page, sign_in_page
from mailbridge.testkit.identity_provider_responses import IssuingProvider, token_response

_AUTHORIZE_FIELDS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "login_hint",
)  # fmt: skip


def _oauth_error(error: OAuthError) -> JSONResponse:
    codes = [int(code) for code in re.findall(r"AADSTS(\d+)", error.description)]
    body = {"error": error.error, "error_description": error.description, "error_codes": codes}
    return JSONResponse(body, status_code=error.status, headers={"Cache-Control": "no-store"})


def _redirect(redirect_uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return RedirectResponse(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", status_code=302)


def _fields(source: Any) -> dict[str, str]:
    return {name: str(source[name]) for name in _AUTHORIZE_FIELDS if source.get(name) is not None}


def build_app(provider: IssuingProvider) -> FastAPI:
    """The provider's routes over `provider` (its state, signing key and URLs)."""
    app = FastAPI(title="Mailbridge test identity provider", openapi_url=None, docs_url=None, redoc_url=None)
    state = provider.state

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def discovery(tenant: str) -> dict[str, Any]:
        endpoint = f"{provider.base_url}/{tenant}/oauth2/v2.0"
        return {
            "issuer": provider.issuer,
            "authorization_endpoint": f"{endpoint}/authorize",
            "token_endpoint": f"{endpoint}/token",
            "device_authorization_endpoint": f"{endpoint}/devicecode",
            "introspection_endpoint": f"{endpoint}/introspect",
            "jwks_uri": f"{provider.base_url}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_CODE_GRANT],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "sub",
                "oid",
                "tid",
                "iss",
                "aud",
                "email",
                "preferred_username",
                "name",
                "nonce",
            ],
            "tenant_region_scope": "EU",
        }

    @app.get("/{tenant}/discovery/v2.0/keys")
    def keys(tenant: str) -> dict[str, Any]:
        return {"keys": [provider.key.jwk()]}

    @app.get("/{tenant}/oauth2/v2.0/authorize", response_model=None)
    def authorize_form(tenant: str, request: Request) -> Response:
        fields = _fields(request.query_params)
        try:
            client = state.client_for(fields.get("client_id", ""), fields.get("redirect_uri"))
        except OAuthError as error:
            return HTMLResponse(error_page(error.description), status_code=400)
        if fields.get("response_type") != "code":
            return _redirect(
                fields["redirect_uri"], {"error": "unsupported_response_type", "state": fields.get("state")}
            )
        if fields.get("code_challenge_method", "plain") not in {"S256", "plain"}:
            return _redirect(
                fields["redirect_uri"], {"error": "invalid_request", "state": fields.get("state")}
            )
        return HTMLResponse(sign_in_page(request.url.path, fields, client.client_id))

    @app.post("/{tenant}/oauth2/v2.0/authorize", response_model=None)
    async def authorize_submit(tenant: str, request: Request) -> Response:
        form = await request.form()
        fields = _fields(form)
        try:
            client = state.client_for(fields.get("client_id", ""), fields.get("redirect_uri"))
        except OAuthError as error:
            return HTMLResponse(error_page(error.description), status_code=400)
        redirect_uri, client_state = fields["redirect_uri"], fields.get("state")
        if form.get("action") != "accept":
            declined = "AADSTS65004: User declined to consent to access the app."
            return _redirect(
                redirect_uri, {"error": "access_denied", "error_description": declined, "state": client_state}
            )
        try:
            login = state.sign_in(str(form.get("login", "")), str(form.get("password", "")))
        except OAuthError as error:
            return HTMLResponse(sign_in_page(request.url.path, fields, client.client_id, error.description))
        scopes = tuple(fields.get("scope", "").split())
        authorization = AuthorizationRequest(
            client.client_id, redirect_uri, scopes, client_state, fields.get("nonce"),
            fields.get("code_challenge"), fields.get("code_challenge_method"),
        )  # fmt: skip
        code = state.issue_code(authorization, login)
        return _redirect(redirect_uri, {"code": code, "state": client_state})

    @app.post("/{tenant}/oauth2/v2.0/token", response_model=None)
    async def token(tenant: str, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        try:
            return JSONResponse(token_response(provider, form, request.headers.get("authorization")))
        except OAuthError as error:
            return _oauth_error(error)

    @app.post("/{tenant}/oauth2/v2.0/devicecode", response_model=None)
    async def devicecode(tenant: str, request: Request) -> Response:
        form = await request.form()
        try:
            client = state.authenticate_client(str(form.get("client_id", "")), None)
        except OAuthError as error:
            return _oauth_error(error)
        device = state.start_device(client, tuple(str(form.get("scope", "")).split()))
        uri = f"{provider.base_url}/devicelogin"
        return JSONResponse({
            "device_code": device.device_code,
            "user_code": device.user_code,
            "verification_uri": uri,
            "expires_in": int(device.expires_at - state.now()),
            "interval": device.interval_s,
            "message": f"To sign in, open the page {uri} and enter the code {device.user_code}.",
        })  # fmt: skip

    @app.get("/devicelogin")
    def device_form() -> HTMLResponse:
        return HTMLResponse(device_page("/devicelogin"))

    @app.post("/devicelogin")
    async def device_submit(request: Request) -> HTMLResponse:
        form = await request.form()
        user_code = str(form.get("user_code", ""))
        try:
            login = None
            if form.get("action") == "accept":
                login = state.sign_in(str(form.get("login", "")), str(form.get("password", "")))
            state.decide_device(user_code, login)
        except OAuthError as error:
            return HTMLResponse(device_page("/devicelogin", error.description), status_code=400)
        return HTMLResponse(done_page("You have signed in." if login else "Sign-in declined."))

    async def introspect(token: str | None) -> dict[str, Any]:
        claims = provider.active_claims(token) if token else None
        return {"active": False} if claims is None else {"active": True, "token_type": "Bearer", **claims}

    @app.post("/{tenant}/oauth2/v2.0/introspect")
    async def introspect_post(tenant: str, request: Request) -> dict[str, Any]:
        form = await request.form()
        token = form.get("token")
        return await introspect(token if isinstance(token, str) else None)

    @app.get("/{tenant}/oauth2/v2.0/introspect")
    async def introspect_get(tenant: str, request: Request) -> dict[str, Any]:
        bearer = request.headers.get("authorization", "")
        token = bearer[7:] if bearer.lower().startswith("bearer ") else request.query_params.get("token")
        return await introspect(token)

    return app
