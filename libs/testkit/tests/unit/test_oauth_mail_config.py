"""The oauth2 passdb's files, without a server: one scope per protocol, the mode's settings."""

from pathlib import Path

import pytest
from mailbridge.testkit.oauth_mail_config import (
    PROTOCOL_SCOPES,
    OAuth2Paths,
    OAuth2Validation,
    ValidationMode,
    key_file,
    passdb_args,
    protocol_passdbs,
)

VALIDATION = OAuth2Validation("https://idp.test/organizations/v2.0", "k/1%", "PEM", None, Path("/ca.pem"))
PATHS = OAuth2Paths.under(Path("/stack/oauth2"))


def test_local_mode_checks_signature_issuer_audience_and_the_one_scope() -> None:
    args = passdb_args(VALIDATION, ValidationMode.LOCAL, PROTOCOL_SCOPES["imap"], PATHS).splitlines()
    assert "introspection_mode = local" in args
    assert "local_validation_key_dict = fs:posix:prefix=/stack/oauth2/keys/" in args
    assert "issuers = https://idp.test/organizations/v2.0" in args
    assert "client_id = https://outlook.office.com" in args
    assert [line for line in args if line.startswith("scope")] == [
        "scope = https://outlook.office.com/IMAP.AccessAsUser.All"
    ]
    assert "username_attribute = email" in args


def test_introspection_mode_needs_the_endpoint() -> None:
    with pytest.raises(ValueError, match="introspection_url"):
        passdb_args(VALIDATION, ValidationMode.INTROSPECTION, PROTOCOL_SCOPES["smtp"], PATHS)


def test_key_files_are_named_as_dovecot_escapes_azp_and_kid() -> None:
    assert key_file(VALIDATION, "default") == Path("default/RS256/k%2f1%25")
    assert key_file(VALIDATION, "app/x") == Path("app%2fx/RS256/k%2f1%25")


def test_every_protocol_gets_a_passdb_of_its_own() -> None:
    blocks = protocol_passdbs(PATHS)
    for protocol in ("imap", "pop3", "smtp"):
        assert f"protocol {protocol} {{\n  passdb {{\n    driver = oauth2\n" in blocks
        assert f"args = /stack/oauth2/{protocol}.conf.ext" in blocks
