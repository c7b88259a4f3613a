"""Every table, registered on one metadata: what migrations and tests compare against."""

from mailbridge.common.db import mailstore, oauth_grants, outbox, tables
from sqlalchemy import MetaData

metadata: MetaData = tables.Base.metadata
assert mailstore.StoredMessage.metadata is metadata
assert outbox.OutboxMessage.metadata is metadata
assert oauth_grants.OAuthGrant.metadata is metadata
