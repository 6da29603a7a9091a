from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.listing import Paginated
from formcase.kit.query import QueryModel, QueryModelRoute
from formcase.workspaces import service
from formcase.workspaces.schemas import WorkspaceListParams, WorkspaceOut

router = APIRouter(tags=["workspaces"], route_class=QueryModelRoute)
WORKSPACE_LIST_QUERY = QueryModel(WorkspaceListParams)


@router.get("/workspaces", response_model=Paginated[WorkspaceOut])
async def list_workspaces(
    params: Annotated[WorkspaceListParams, Depends(WORKSPACE_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> Paginated[WorkspaceOut]:
    """Every workspace the token grants."""
    items, total = await service.list_granted(session, principal, params)
    return Paginated[WorkspaceOut].build(
        [WorkspaceOut.model_validate(w, from_attributes=True) for w in items],
        total,
        params.page(),
    )


@router.get("/companies", response_model=list[WorkspaceOut], deprecated=True)
async def list_companies(
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> list[WorkspaceOut]:
    """The older name of /workspaces: a bare array."""
    items = await service.all_granted(session, principal)
    return [WorkspaceOut.model_validate(w, from_attributes=True) for w in items]
