"""The OAuth mail stack with the tests' local identity provider (O4, S2): its tokens log in over
IMAP, POP3 and SMTP; revoked or expired ones are refused by the mail servers themselves."""

import imaplib
import poplib
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from mailbridge.testkit.identity_provider import LocalIdentityProvider
from mailbridge.testkit.oauth_fixtures import OAuthUser
from mailbridge.testkit.oauth_mail import OAuthMailStack
from mailbridge.testkit.oauth_mail_clients import BearerResponder, pop3_authenticate, xoauth2_string
from mailbridge.testkit.oauth_mail_config import (
    IMAP_SCOPE,
    POP_SCOPE,
    SMTP_SCOPE,
    OAuth2Validation,
    ValidationMode,
)
from mailbridge.testkit.oauth_mail_fixtures import stack_parent
from mailbridge.testkit.pytest_plugin import require_mail_servers
from mailbridge.testkit.users import MailUser

MINTED_FOR = "mailbridge-tests"
"""The client id (`azp`) of `LocalIdentityProvider.mint_access_token`'s tokens."""


def imap_accepts(stack: OAuthMailStack, login: str, token: str) -> bool:
    responder = BearerResponder(xoauth2_string(login, token))
    with imaplib.IMAP4_SSL(stack.host, stack.ports.imaps, ssl_context=stack.client_context()) as session:
        try:
            return session.authenticate("XOAUTH2", responder.imap)[0] == "OK"
        except imaplib.IMAP4.error:
            assert responder.error is not None  # the error challenge came and was answered
            return False


def test_provider_tokens_log_in_over_imap_and_pop3_o4(
    oauth_mail_stack: OAuthMailStack, identity_provider: LocalIdentityProvider, oauth_mail_user: MailUser
) -> None:
    login = oauth_mail_user.address
    assert imap_accepts(oauth_mail_stack, login, identity_provider.mint_access_token(login, [IMAP_SCOPE]))
    session = poplib.POP3_SSL(
        oauth_mail_stack.host, oauth_mail_stack.ports.pop3s, context=oauth_mail_stack.client_context()
    )
    try:
        token = identity_provider.mint_access_token(login, [POP_SCOPE])
        assert pop3_authenticate(session, "XOAUTH2", xoauth2_string(login, token)).ok
    finally:
        session.close()


def test_provider_token_sends_mail_that_is_delivered_s2(
    oauth_mail_stack: OAuthMailStack, identity_provider: LocalIdentityProvider, oauth_mail_user: MailUser
) -> None:
    login = oauth_mail_user.address
    token = identity_provider.mint_access_token(login, [SMTP_SCOPE])
    message = EmailMessage()
    message["From"] = message["To"] = login
    message["Subject"] = "sent with the provider's token"
    message.set_content("S2\n")
    with smtplib.SMTP(oauth_mail_stack.host, oauth_mail_stack.ports.submission) as smtp:
        smtp.starttls(context=oauth_mail_stack.client_context())
        smtp.auth("XOAUTH2", BearerResponder(xoauth2_string(login, token)), initial_response_ok=False)
        smtp.send_message(message)
    oauth_mail_stack.wait_for_messages(login, 1)


def test_a_revoked_grant_is_refused_at_the_next_login_o4(
    oauth_mail_stack: OAuthMailStack,
    identity_provider: LocalIdentityProvider,
    oauth_user: OAuthUser,
    oauth_mail_user: MailUser,
) -> None:
    token = identity_provider.mint_access_token(oauth_user.login, [IMAP_SCOPE])
    assert imap_accepts(oauth_mail_stack, oauth_user.login, token)
    identity_provider.revoke(oauth_user.login)
    assert not imap_accepts(oauth_mail_stack, oauth_user.login, token)


def test_an_expired_provider_token_is_refused_o4(
    oauth_mail_stack: OAuthMailStack, identity_provider: LocalIdentityProvider, oauth_mail_user: MailUser
) -> None:
    login = oauth_mail_user.address
    token = identity_provider.mint_access_token(login, [IMAP_SCOPE], expires_in_s=-60)
    assert not imap_accepts(oauth_mail_stack, login, token)


@pytest.fixture(scope="module")
def locally_validating_stack(identity_provider: LocalIdentityProvider) -> Iterator[OAuthMailStack]:
    require_mail_servers()
    validation = OAuth2Validation.of(identity_provider, authorized_parties=(MINTED_FOR,))
    with OAuthMailStack(validation, ValidationMode.LOCAL, parent=stack_parent()) as stack:
        yield stack


def test_local_validation_accepts_provider_tokens_with_its_public_key_o4(
    locally_validating_stack: OAuthMailStack, identity_provider: LocalIdentityProvider, oauth_user: OAuthUser
) -> None:
    stack = locally_validating_stack
    stack.add_user(oauth_user.login)
    token = identity_provider.mint_access_token(oauth_user.login, [IMAP_SCOPE])
    assert imap_accepts(stack, oauth_user.login, token)
    identity_provider.revoke(oauth_user.login)
    assert imap_accepts(stack, oauth_user.login, token)  # local validation cannot see revocation
    assert not imap_accepts(
        stack, oauth_user.login, identity_provider.mint_access_token(oauth_user.login, [SMTP_SCOPE])
    )
