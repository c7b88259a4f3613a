"""Builds the five standard routes of a resource from its `ResourceService`.

Every resource gets the same paging, ETag and If-Match handling and the same errors, written once.
FastAPI reads the body and response types from the annotations at run time, which is why they
are variables here.
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from mailbridge.config_api import crud
from mailbridge.config_api.deps import CtxDep, IfMatch
from mailbridge.config_api.paging import Page, PageRequest, page_request
from mailbridge.config_api.problems import PROBLEM_RESPONSES
from mailbridge.config_api.resource import ResourceService
from mailbridge.config_api.store import etag

PageDep = Annotated[PageRequest, Depends(page_request)]


def crud_router(svc: ResourceService[Any, Any, Any], prefix: str, slug: str) -> APIRouter:
    """Routes `prefix` (list, create) and `prefix/{id}` (get, patch, delete)."""
    router = APIRouter(prefix=prefix, tags=[svc.what + "s"], responses=PROBLEM_RESPONSES)
    in_model, patch_model, out_model = svc.in_model, svc.patch_model, svc.out_model

    page_model = Page[out_model]  # type: ignore[valid-type]

    @router.get("", response_model=page_model, operation_id=f"list_{slug}s")
    async def list_all(ctx: CtxDep, page: PageDep) -> Any:
        rows, cursor = await crud.list_rows(svc, ctx, page)
        return page_model(items=[await svc.render(ctx, row) for row in rows], next_cursor=cursor)

    @router.post("", response_model=out_model, status_code=201, operation_id=f"create_{slug}")
    async def create(
        ctx: CtxDep,
        body: in_model,  # type: ignore[valid-type]
        response: Response,
    ) -> Any:
        row = await crud.create_row(svc, ctx, body)
        response.headers["ETag"] = etag(row)
        return await svc.render(ctx, row)

    @router.get("/{item_id}", response_model=out_model, operation_id=f"get_{slug}")
    async def get(ctx: CtxDep, item_id: uuid.UUID, response: Response) -> Any:
        row = await crud.get_row(svc, ctx, item_id)
        response.headers["ETag"] = etag(row)
        return await svc.render(ctx, row)

    @router.patch("/{item_id}", response_model=out_model, operation_id=f"update_{slug}")
    async def update(
        ctx: CtxDep,
        item_id: uuid.UUID,
        body: patch_model,  # type: ignore[valid-type]
        response: Response,
        if_match: IfMatch = None,
    ) -> Any:
        patch = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        row = await crud.update_row(svc, ctx, item_id, patch, if_match)
        response.headers["ETag"] = etag(row)
        return await svc.render(ctx, row)

    @router.delete("/{item_id}", status_code=204, operation_id=f"delete_{slug}")
    async def delete(ctx: CtxDep, item_id: uuid.UUID, if_match: IfMatch = None) -> None:
        await crud.delete_row(svc, ctx, item_id, if_match)

    return router
