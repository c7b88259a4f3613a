"""pytest fixtures for mail servers that check OAuth tokens: `oauth_mail_stack`, `oauth_mail_user`.

`oauth_mail_stack` validates by introspection at the session's `identity_provider`, so a
revoked token (`identity_provider.revoke(login)`) is refused by the mail server itself at the
next login (O4, S2); build an `OAuthMailStack` with `ValidationMode.LOCAL` where the signature
alone should decide (and trust the token's `azp`: the client id it was issued to).
`oauth_mail_user` is the mailbox of the test's `oauth_user`: the same login at the provider and
on the mail servers, as a Microsoft 365 mailbox is.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbridge.testkit.oauth_fixtures import OAuthUser
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_config import OAuth2Validation, TokenIssuer, ValidationMode
from mailbridge.testkit.pytest_plugin import require_mail_servers
from mailbridge.testkit.stack import DEFAULT_PARENT
from mailbridge.testkit.users import MailUser


def stack_parent() -> Path:
    parent = os.environ.get("MAILBRIDGE_TEST_STACK_PARENT")
    return Path(parent) if parent else DEFAULT_PARENT


@pytest.fixture(scope="session")
def oauth_mail_stack(identity_provider: TokenIssuer) -> Iterator[OAuthMailStack]:
    """Dovecot and Postfix taking the identity provider's tokens (introspection) and passwords."""
    require_mail_servers()
    validation = OAuth2Validation.of(identity_provider)
    with OAuthMailStack(validation, ValidationMode.INTROSPECTION, parent=stack_parent()) as stack:
        yield stack


@pytest.fixture
def oauth_mail_user(oauth_mail_stack: OAuthMailStack, oauth_user: OAuthUser) -> MailUser:
    """The mailbox of the test's `oauth_user` on `oauth_mail_stack` (its password works too)."""
    return oauth_mail_stack.add_user(oauth_user.login)
