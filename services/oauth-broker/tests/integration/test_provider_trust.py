"""The broker's HTTP client trusts the system plus MAILBRIDGE_EXTRA_CA_FILE, a bundle that may hold
several CAs, for the identity provider (#13); REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE and
SSL_CERT_FILE in the environment do not replace it, and proxies from the environment are not used."""

from pathlib import Path

import certifi
import pytest
import requests
from mailbridge.oauth_broker.adapters.http_session import ProviderSession
from mailbridge.testkit.identity_provider import LocalIdentityProvider


def test_the_extra_bundle_is_trusted_whatever_the_environment_says(
    identity_provider: LocalIdentityProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = Path(certifi.where()).read_bytes()  # many CAs, none of which signed the provider
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(public + identity_provider.ca_file.read_bytes())
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(variable, certifi.where())
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    discovery = f"{identity_provider.authority}/v2.0/.well-known/openid-configuration"
    with ProviderSession(bundle, timeout_s=10.0) as session:
        answer = session.get(discovery)
    assert answer.status_code == 200
    assert answer.json()["token_endpoint"].startswith(identity_provider.authority)
    with ProviderSession(None, timeout_s=10.0) as untrusting, pytest.raises(requests.exceptions.SSLError):
        untrusting.get(discovery)
