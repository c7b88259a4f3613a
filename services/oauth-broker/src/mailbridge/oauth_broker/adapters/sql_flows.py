"""Flows in progress in SQL (oauth_flows): msal's flow dict encrypted (PKCE verifier, nonce,
device code), keyed by its state; taking one is a DELETE whose row count says who got it."""

import json
from datetime import datetime
from typing import cast

from mailbridge.common.db.oauth_grants import OAuthFlow
from mailbridge.common.secrets import SecretBox
from mailbridge.oauth_broker.model import StoredFlow
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class SqlFlows:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], secrets: SecretBox) -> None:
        self._sessions = sessions
        self._secrets = secrets

    async def add(self, flow: StoredFlow, redirect_uri: str | None) -> None:
        async with self._sessions() as session, session.begin():
            session.add(
                OAuthFlow(
                    state=flow.state,
                    account_id=flow.account_id,
                    kind=flow.kind,
                    flow_encrypted=self._secrets.encrypt(json.dumps(flow.flow)),
                    redirect_uri=redirect_uri,
                    expires_at=flow.expires_at,
                )
            )

    async def get(self, state: str) -> StoredFlow | None:
        async with self._sessions() as session:
            row = (
                await session.execute(select(OAuthFlow).where(OAuthFlow.state == state))
            ).scalar_one_or_none()
        if row is None:
            return None
        flow = json.loads(self._secrets.decrypt(row.flow_encrypted))
        return StoredFlow(row.state, row.account_id, row.kind, flow, row.expires_at)

    async def take(self, state: str) -> bool:
        return await self._delete(delete(OAuthFlow).where(OAuthFlow.state == state)) == 1

    async def purge_expired(self, now: datetime) -> int:
        return await self._delete(delete(OAuthFlow).where(OAuthFlow.expires_at < now))

    async def _delete(self, statement: object) -> int:
        async with self._sessions() as session, session.begin():
            result = cast(CursorResult[tuple[()]], await session.execute(statement))  # type: ignore[call-overload]
            return result.rowcount
