"""The life cycle every configuration resource shares: create, read, list, patch, delete.

A resource supplies its rules as a `ResourceService`; `crud.py` runs them in one order for all:
validate the whole object (a patch is merged into the current state first, so cross-field rules
see the result), check references and uniqueness, honour `If-Match` (S13), write, commit.
"""

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from mailbridge.common.db.tables import Versioned
from mailbridge.common.secrets import SecretBox
from mailbridge.config_api.api_keys import Principal
from mailbridge.config_api.errors import FieldProblem, Forbidden
from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

RowT = TypeVar("RowT", bound=Versioned)
InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


@dataclass(frozen=True)
class Ctx:
    """One request's unit of work."""

    session: AsyncSession
    secrets: SecretBox
    principal: Principal
    # Where browsers reach this API (MAILBRIDGE_PUBLIC_URL, else the request's base URL): the
    # base of the OAuth redirect URI a provider shows.
    public_url: str


@dataclass(frozen=True)
class Blockers:
    """Objects that still use the one being deleted (409 names them)."""

    description: str
    ids: list[uuid.UUID]


class ResourceService(Generic[RowT, InT, OutT]):
    """Rules of one resource; override the hooks that apply."""

    what: ClassVar[str]
    model: type[RowT]
    in_model: type[InT]
    patch_model: type[BaseModel]
    out_model: type[OutT]
    write_only: ClassVar[frozenset[str]] = frozenset()

    async def current_input(self, ctx: Ctx, row: RowT) -> dict[str, Any]:
        """The row in the shape of `in_model` (without write-only fields), to merge a patch into."""
        fields = set(self.in_model.model_fields) - self.write_only
        return {name: getattr(row, name) for name in fields}

    async def problems(self, ctx: Ctx, data: InT, row: RowT | None) -> list[FieldProblem | None]:
        """Rules that need the database: references, uniqueness, cross-object consistency."""
        return []

    async def write(self, ctx: Ctx, row: RowT, data: InT, given: set[str]) -> None:
        """Copy validated values onto the row; `given` names the fields the request set."""
        for name in set(self.in_model.model_fields) - self.write_only:
            setattr(row, name, getattr(data, name))

    async def blockers(self, ctx: Ctx, row: RowT) -> Blockers | None:
        return None

    async def render(self, ctx: Ctx, row: RowT) -> OutT:
        return self.out_model.model_validate(row, from_attributes=True)

    def visible_to(self, principal: Principal) -> ColumnElement[bool] | None:
        """Rows a non-admin may read (None: all rows for admins). Default: admins only."""
        if principal.is_admin:
            return None
        raise Forbidden(f"reading {self.what}s needs an admin API key")
