"""Keyset paging with an opaque cursor: ids are time-ordered, so the cursor is the last id."""

import base64
import binascii
import uuid
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from mailbridge.common.db.mailstore import StoredMessage
from mailbridge.common.db.tables import Versioned
from mailbridge.config_api.errors import invalid
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
V = TypeVar("V", bound=Versioned | StoredMessage)  # anything keyed by a time-ordered id
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class PageRequest(BaseModel):
    limit: int
    after: uuid.UUID | None


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as error:
        raise invalid("cursor", "cursor", "not a cursor returned by this API") from error


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=decode_cursor(cursor) if cursor else None)


async def fetch_page(
    session: AsyncSession, statement: Select[V], model: type[V], page: PageRequest, newest_first: bool = False
) -> tuple[list[V], str | None]:
    """Rows of one page ordered by id (`newest_first`: descending), after the cursor, and the
    cursor of the next page."""
    if page.after is not None:
        statement = statement.where(model.id < page.after if newest_first else model.id > page.after)
    order = model.id.desc() if newest_first else model.id
    rows = list((await session.scalars(statement.order_by(order).limit(page.limit + 1))).all())
    if len(rows) <= page.limit:
        return rows, None
    kept = rows[: page.limit]
    return kept, encode_cursor(kept[-1].id)
