"""Persistence helpers shared by the resources: lookups, uniqueness, optimistic concurrency."""

import uuid
from typing import Any, TypeVar

from mailbridge.common.db.tables import Base, Versioned
from mailbridge.config_api.errors import (
    Conflict,
    FieldProblem,
    PreconditionFailed,
    ValidationFailed,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

M = TypeVar("M", bound=Base)
V = TypeVar("V", bound=Versioned)


def etag(row: Versioned) -> str:
    return f'"{row.version}"'


def check_if_match(row: Versioned, if_match: str | None) -> None:
    """S13: a write naming a version other than the current one changes nothing (412)."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(row) not in wanted:
        raise PreconditionFailed(
            f"the object changed: current version is {row.version}, If-Match was {if_match}"
        )


async def missing_reference(
    session: AsyncSession, model: type[M], row_id: uuid.UUID | None, field: str, what: str
) -> FieldProblem | None:
    if row_id is None or await session.get(model, row_id) is not None:
        return None
    return FieldProblem(field, "reference", f"{what} {row_id} does not exist")


async def duplicate(
    session: AsyncSession,
    column: InstrumentedAttribute[Any],
    value: Any,
    current_id: uuid.UUID | None,
    field: str,
    rule: str = "unique",
) -> FieldProblem | None:
    model = column.class_
    statement = select(model.id).where(column == value)
    if current_id is not None:
        statement = statement.where(model.id != current_id)
    if (await session.scalar(statement.limit(1))) is None:
        return None
    return FieldProblem(field, rule, f"{value!r} is already used by another object")


def raise_problems(problems: list[FieldProblem | None]) -> None:
    found = [problem for problem in problems if problem is not None]
    if found:
        raise ValidationFailed(found)


async def commit(session: AsyncSession) -> None:
    """Commit, turning a lost race into 412 (version) or 409 (a constraint)."""
    try:
        await session.commit()
    except StaleDataError as error:
        await session.rollback()
        raise PreconditionFailed("the object was changed by another request") from error
    except IntegrityError as error:
        await session.rollback()
        raise Conflict("the change clashes with data written at the same time") from error


def apply(row: Base, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(row, key, value)
