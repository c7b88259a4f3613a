"""The OAuth broker's custody (O4): one encrypted msal token cache per account, and the flows
in progress. Only the broker reads or writes these tables.

- `oauth_grants`: the account's msal token cache (refresh token, access token, id token) as
  one SecretBox ciphertext, under the same key ring and rotation as passwords. Nothing else
  stores a refresh token. `access_expires_at` and `refreshed_at` are plain: they are no secret
  and let the background refresher pick rows without decrypting any. `revision` counts the saves;
  a refresh takes the row (an UPDATE first, which is a row lock on PostgreSQL and the write lock
  on SQLite), so concurrent askers on any replica cause one refresh.
- `oauth_flows`: a started connect flow, keyed by its `state` (or the device flow's id), with
  msal's flow (PKCE verifier, nonce, device code) encrypted, and a short expiry. Any replica can
  finish a flow another started; finishing deletes the row, so a replayed callback finds no flow.
"""

import uuid
from datetime import datetime

from mailbridge.common.db.tables import Base
from mailbridge.common.db.types import UtcDateTime, utcnow
from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

ACCOUNT_FK = "mail_accounts.id"


class OAuthGrant(Base):
    __tablename__ = "oauth_grants"
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    token_cache_encrypted: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OAuthFlow(Base):
    __tablename__ = "oauth_flows"
    state: Mapped[str] = mapped_column(
        String(200), primary_key=True
    )  # the code flow's state, or a device flow's id
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "code" | "device"
    flow_encrypted: Mapped[str] = mapped_column(Text)
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
