from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.listing import Paginated
from formcase.kit.openapi import errors
from formcase.kit.query import QueryModel, QueryModelRoute
from formcase.templates import service
from formcase.templates.schemas import (
    FlowListParams,
    StepOut,
    TemplateListParams,
    TemplateOut,
    TemplateSelector,
)

router = APIRouter(tags=["form templates"], route_class=QueryModelRoute)
TEMPLATE_LIST_QUERY = QueryModel(TemplateListParams)
FLOW_LIST_QUERY = QueryModel(FlowListParams)
TEMPLATE_SELECTOR_QUERY = QueryModel(TemplateSelector)


@router.get("/form_templates", response_model=Paginated[TemplateOut])
async def list_form_templates(
    params: Annotated[TemplateListParams, Depends(TEMPLATE_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> Paginated[TemplateOut]:
    """Form templates of the token's workspaces; `archived=true` includes archived ones."""
    page = params.page()
    items, total = await service.list_for(
        session,
        principal,
        archived=params.archived,
        sort=params.sort,
        limit=page.size,
        offset=page.offset,
    )
    return Paginated[TemplateOut].build(items, total, page)


@router.get("/flows", response_model=list[TemplateOut], deprecated=True)
async def list_flows(
    params: Annotated[FlowListParams, Depends(FLOW_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> list[TemplateOut]:
    """The older name of /form_templates: a bare array; `archived=true` lists only archived."""
    items, _ = await service.list_for(
        session, principal, archived=False, only_archived=params.archived
    )
    return items


@router.get("/form_templates/{slug}/steps", response_model=list[StepOut], responses=errors(409))
@router.get(
    "/flows/{slug}/steps",
    response_model=list[StepOut],
    responses=errors(409),
    deprecated=True,
    operation_id="get_flow_steps",
)
async def get_template_steps(
    slug: str,
    selector: Annotated[TemplateSelector, Depends(TEMPLATE_SELECTOR_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> list[StepOut]:
    """The steps and elements of the template's current version."""
    resolved = await service.resolve_selected(session, principal, slug, selector)
    return service.steps_of(resolved.definition, selector.locale)


@router.get("/form_templates/{slug}/options", responses=errors(409))
@router.get(
    "/flows/{slug}/options",
    responses=errors(409),
    deprecated=True,
    operation_id="get_flow_options",
)
async def get_template_options(
    slug: str,
    selector: Annotated[TemplateSelector, Depends(TEMPLATE_SELECTOR_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> dict[str, Any]:
    """The options a form of this template has, with their defaults; POST /forms takes any of
    them under `options`."""
    resolved = await service.resolve_selected(session, principal, slug, selector)
    return resolved.definition.effective_options()
