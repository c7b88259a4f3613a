"""Sender integration fixtures beyond testkit's plugin: the OAuth mail stack (Postfix submission
and Dovecot checking the local identity provider's tokens, S2), and `smtp`, a fault-injecting SMTP
server of the test's own."""

from collections.abc import Iterator

import pytest
from mailbridge.testkit.credential_fixtures import faults, silent  # noqa: F401 - fixtures (T1)
from mailbridge.testkit.oauth_mail_fixtures import oauth_mail_stack, oauth_mail_user  # noqa: F401 - fixtures
from sender_testing import FaultySmtpServer


@pytest.fixture
def smtp() -> Iterator[FaultySmtpServer]:
    with FaultySmtpServer() as running:
        yield running
