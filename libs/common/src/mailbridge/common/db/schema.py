"""Every table, registered on one metadata: what migrations and tests compare against."""

from mailbridge.common.db import (
    credential_tests,
    mailstore,
    oauth_grants,
    out_of_office,
    outbox,
    tables,
    webhooks,
)
from sqlalchemy import MetaData

metadata: MetaData = tables.Base.metadata
assert mailstore.StoredMessage.metadata is metadata
assert outbox.OutboxMessage.metadata is metadata
assert oauth_grants.OAuthGrant.metadata is metadata
assert out_of_office.OutOfOffice.metadata is metadata
assert credential_tests.CredentialTest.metadata is metadata
assert webhooks.WebhookEndpoint.metadata is metadata
