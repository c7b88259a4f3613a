"""The HTTP client msal talks to the identity provider with: verification always on, trusting
the system's CAs plus MAILBRIDGE_EXTRA_CA_FILE (common.tls.client_context), and nothing from
the environment. requests would otherwise let REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) replace
the trust, and proxies from the environment reroute the calls; `trust_env=False` and a
transport whose pool carries our SSLContext keep the trust ours.
"""

from pathlib import Path
from typing import Any

import requests
from mailbridge.common.tls import client_context
from requests.adapters import HTTPAdapter


class _TrustedTransport(HTTPAdapter):
    """An HTTPAdapter whose connections verify with one SSLContext, never a CA file of requests'."""

    def __init__(self, context: Any) -> None:
        self._context = context
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would point the connection at certifi's file (loaded into our context on
        # every connect); the context already holds the trust, verification stays required.
        conn.cert_reqs = "CERT_REQUIRED"


class ProviderSession(requests.Session):
    """A requests.Session for msal with a per-request timeout (requests has no session-wide one)."""

    def __init__(self, extra_ca_file: Path | None, timeout_s: float) -> None:
        super().__init__()
        self.trust_env = False
        self.timeout_s = timeout_s
        transport = _TrustedTransport(client_context(extra_ca_file))
        self.mount("https://", transport)
        self.mount("http://", transport)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
