"""Key rotation: re-encrypt every stored secret under the newest key, a batch at a time.

Runs beside live services: every key in the ring still decrypts, so readers never fail while
rows move from an old key to the new one; each batch is its own short transaction.
"""

from mailbridge.common.db.oauth_grants import OAuthGrant
from mailbridge.common.db.tables import MailAccount, OAuthProvider
from mailbridge.common.db.webhooks import WebhookEndpoint
from mailbridge.common.secrets import SecretBox
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

ENCRYPTED_COLUMNS: tuple[InstrumentedAttribute[str | None], ...] = (
    MailAccount.password_encrypted,
    OAuthProvider.client_secret_encrypted,
    OAuthGrant.token_cache_encrypted,  # oauth_flows' secrets live minutes and are not rotated
    WebhookEndpoint.secret_encrypted,  # #18: the signing secrets, current and during a rotation previous
    WebhookEndpoint.previous_secret_encrypted,
)
BATCH = 500


async def rotate_secrets(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> int:
    """Re-encrypt the secrets not yet under the newest key; return how many were rewritten."""
    rewritten = 0
    for column in ENCRYPTED_COLUMNS:
        table = column.class_
        [key] = table.__mapper__.primary_key
        after = None
        while True:
            async with sessions() as session:
                statement = select(key, column).where(column.is_not(None)).order_by(key)
                if after is not None:
                    statement = statement.where(key > after)
                rows = (await session.execute(statement.limit(BATCH))).all()
                for row_id, token in rows:
                    if box.needs_rotation(token):
                        await session.execute(
                            update(table)
                            .where(key == row_id, column == token)
                            .values({column.key: box.rotate(token)})
                        )
                        rewritten += 1
                await session.commit()
            if len(rows) < BATCH:
                break
            after = rows[-1][0]
    return rewritten
