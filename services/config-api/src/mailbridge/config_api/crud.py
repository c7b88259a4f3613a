"""Generic use-cases over a `ResourceService` and the router that exposes them."""

import uuid
from typing import Any

from mailbridge.config_api.errors import Conflict, Forbidden, NotFound
from mailbridge.config_api.paging import PageRequest, fetch_page
from mailbridge.config_api.resource import Ctx, InT, OutT, ResourceService, RowT
from mailbridge.config_api.store import check_if_match, commit, raise_problems
from sqlalchemy import select


def _require_admin(ctx: Ctx) -> None:
    if not ctx.principal.is_admin:
        raise Forbidden("changing configuration needs an admin API key")


async def get_row(svc: ResourceService[RowT, InT, OutT], ctx: Ctx, row_id: uuid.UUID) -> RowT:
    """The row, or 404 when it does not exist or the caller may not see it."""
    statement = select(svc.model).where(svc.model.id == row_id)
    scope = svc.visible_to(ctx.principal)
    if scope is not None:
        statement = statement.where(scope)
    row = await ctx.session.scalar(statement)
    if row is None:
        raise NotFound(f"{svc.what} {row_id} does not exist")
    return row


async def list_rows(
    svc: ResourceService[RowT, InT, OutT], ctx: Ctx, page: PageRequest, *filters: Any
) -> tuple[list[RowT], str | None]:
    statement = select(svc.model).where(*filters)
    scope = svc.visible_to(ctx.principal)
    if scope is not None:
        statement = statement.where(scope)
    return await fetch_page(ctx.session, statement, svc.model, page)


async def create_row(svc: ResourceService[RowT, InT, OutT], ctx: Ctx, data: InT) -> RowT:
    _require_admin(ctx)
    raise_problems(await svc.problems(ctx, data, None))
    row = svc.model()
    await svc.write(ctx, row, data, set(data.model_fields_set))
    ctx.session.add(row)
    await commit(ctx.session)
    return row


async def update_row(
    svc: ResourceService[RowT, InT, OutT],
    ctx: Ctx,
    row_id: uuid.UUID,
    patch: dict[str, Any],
    if_match: str | None,
) -> RowT:
    _require_admin(ctx)
    row = await get_row(svc, ctx, row_id)
    check_if_match(row, if_match)
    merged = await svc.current_input(ctx, row) | patch
    data = svc.in_model.model_validate(merged)
    raise_problems(await svc.problems(ctx, data, row))
    await svc.write(ctx, row, data, set(patch))
    await commit(ctx.session)
    return row


async def delete_row(
    svc: ResourceService[RowT, InT, OutT], ctx: Ctx, row_id: uuid.UUID, if_match: str | None
) -> None:
    _require_admin(ctx)
    row = await get_row(svc, ctx, row_id)
    check_if_match(row, if_match)
    blockers = await svc.blockers(ctx, row)
    if blockers is not None:
        raise Conflict(
            f"{svc.what} {row_id} is still used by {blockers.description}",
            [str(i) for i in blockers.ids],
        )
    await ctx.session.delete(row)
    await commit(ctx.session)
