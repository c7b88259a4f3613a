"""The identity provider through msal (O4): one msal application per call, built from the
provider's row, with the account's token cache; msal is blocking, so every call runs in a
thread, bounded by the provider timeout.

- `instance_discovery=False`: msal would otherwise ask Microsoft's discovery host about every
  authority; the authority (or a generic provider's `oidc_authority`) is trusted as configured.
- A provider with a client secret is a ConfidentialClientApplication, without one a
  PublicClientApplication. The device flow always runs as a public client with the same client
  id and no secret: it is a public-client flow (Entra: "allow public client flows"), and an
  app registered as public refuses a secret.
- The cache is a `SerializableTokenCache` filled from the stored JSON; after a call that changed
  it (`has_state_changed`: a new access token, a rotated refresh token) its JSON is returned
  for the caller to store, so a rotated refresh token is never lost.
- msal logs its token events at DEBUG with the request's data, where the authorization code,
  PKCE verifier and device code are not masked: those records are dropped (`_NoTokenEvents`).
"""

import asyncio
import logging
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msal  # type: ignore[import-untyped]
import requests
from mailbridge.common.printable import printable
from mailbridge.oauth_broker.decisions import current_access_token
from mailbridge.oauth_broker.model import JsonDict, ProviderError, ProviderUnavailable, Tokens
from mailbridge.oauth_broker.providers import ProviderConfig

T = TypeVar("T")
PROVIDER_FAILURES = (requests.RequestException, msal.exceptions.MsalError, ValueError, RuntimeError, OSError)


class _NoTokenEvents(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("event=")


class MsalProvider:
    def __init__(self, http: requests.Session, timeout_s: float) -> None:
        self._http = http
        self._timeout_s = timeout_s
        token_events = logging.getLogger("msal.token_cache")
        if not any(isinstance(known, _NoTokenEvents) for known in token_events.filters):
            token_events.addFilter(_NoTokenEvents())
        # The callback is a GET that config-api hands over (issue #13), so the code comes in the
        # query; msal warns about every such flow.
        warnings.filterwarnings(
            "ignore", message="response_mode='form_post' is recommended", category=UserWarning
        )

    def _application(self, provider: ProviderConfig, cache: msal.TokenCache, public: bool = False) -> Any:
        where = {"oidc_authority" if provider.oidc else "authority": provider.authority}
        common: dict[str, Any] = {
            "token_cache": cache,
            "http_client": self._http,
            "instance_discovery": False,
        }
        if provider.client_secret and not public:
            return msal.ConfidentialClientApplication(
                provider.client_id, client_credential=provider.client_secret, **where, **common
            )
        return msal.PublicClientApplication(provider.client_id, **where, **common)

    async def _run(self, call: Callable[[], T]) -> T:
        try:
            return await asyncio.wait_for(asyncio.to_thread(call), self._timeout_s)
        except TimeoutError as error:
            raise ProviderUnavailable(
                f"the identity provider did not answer within {self._timeout_s:g} s"
            ) from error
        except PROVIDER_FAILURES as error:
            raise ProviderUnavailable(
                f"the identity provider cannot be used: {printable(str(error))}"
            ) from error

    async def refresh(self, provider: ProviderConfig, cache_json: str) -> Tokens | ProviderError:
        def call() -> Tokens | ProviderError:
            cache = _cache(cache_json)
            app = self._application(provider, cache)
            accounts = app.get_accounts()
            if not accounts:
                return ProviderError(
                    "invalid_grant", "the stored grant holds no signed-in account: connect again"
                )
            result = app.acquire_token_silent_with_error(
                list(provider.scopes), accounts[0], force_refresh=True
            )
            if result is None:
                return ProviderError(
                    "invalid_grant", "the stored grant holds no refresh token: connect again"
                )
            return _outcome(result, cache)

        return await self._run(call)

    async def start_code_flow(self, provider: ProviderConfig, redirect_uri: str, login_hint: str) -> JsonDict:
        def call() -> JsonDict:
            app = self._application(provider, msal.SerializableTokenCache())
            flow: JsonDict = app.initiate_auth_code_flow(
                list(provider.scopes), redirect_uri=redirect_uri, login_hint=login_hint
            )
            return flow

        return await self._run(call)

    async def redeem_code(
        self, provider: ProviderConfig, flow: JsonDict, params: dict[str, str]
    ) -> Tokens | ProviderError:
        def call() -> Tokens | ProviderError:
            cache = msal.SerializableTokenCache()
            app = self._application(provider, cache)
            return _outcome(app.acquire_token_by_auth_code_flow(dict(flow), dict(params)), cache)

        return await self._run(call)

    async def start_device_flow(self, provider: ProviderConfig) -> JsonDict | ProviderError:
        def call() -> JsonDict | ProviderError:
            app = self._application(provider, msal.SerializableTokenCache(), public=True)
            flow: JsonDict = app.initiate_device_flow(list(provider.scopes))
            if "user_code" not in flow:
                return _error(flow)
            return flow

        return await self._run(call)

    async def poll_device_flow(self, provider: ProviderConfig, flow: JsonDict) -> Tokens | ProviderError:
        def call() -> Tokens | ProviderError:
            cache = msal.SerializableTokenCache()
            app = self._application(provider, cache, public=True)
            # One poll: msal's loop asks the exit condition before each wait.
            result = app.acquire_token_by_device_flow(dict(flow), exit_condition=lambda _flow: True)
            return _outcome(result, cache)

        return await self._run(call)


def _cache(cache_json: str) -> msal.SerializableTokenCache:
    cache = msal.SerializableTokenCache()
    cache.deserialize(cache_json)
    return cache


def _error(result: JsonDict) -> ProviderError:
    return ProviderError(str(result.get("error") or "error"), str(result.get("error_description") or ""))


def _outcome(result: JsonDict, cache: msal.SerializableTokenCache) -> Tokens | ProviderError:
    if "access_token" not in result:
        return _error(result)
    cache_json = cache.serialize()
    cached = current_access_token(cache_json)
    if cached is not None and cached.access_token == result["access_token"]:
        expires_at = cached.expires_at
    else:
        expires_at = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
    claims = result.get("id_token_claims")
    return Tokens(cache_json, result["access_token"], expires_at, claims if isinstance(claims, dict) else {})
