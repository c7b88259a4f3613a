"""The settings singleton: created with the defaults of `MailSettingsIn` on first read."""

import uuid

from mailbridge.common.db.tables import MailSettings
from mailbridge.config_api.mail_settings.schemas import MailSettingsIn
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

SINGLETON_ID = uuid.UUID(int=1)


async def load_settings(session: AsyncSession) -> MailSettings:
    row = await session.get(MailSettings, SINGLETON_ID)
    if row is not None:
        return row
    row = MailSettings(id=SINGLETON_ID, **MailSettingsIn().model_dump())
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # another request created it first
        await session.rollback()
        existing = await session.get(MailSettings, SINGLETON_ID)
        assert existing is not None
        return existing
    return row
