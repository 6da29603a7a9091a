from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.cases import service, templates
from formcase.cases.filters import CASE_FILTERS
from formcase.cases.schemas import (
    CaseContacts,
    CaseCount,
    CaseCountParams,
    CaseCreate,
    CaseData,
    CaseDetailOut,
    CaseListParams,
    CaseOut,
    CasePatch,
    CaseTemplateListParams,
    StepStart,
    Timeline,
)
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.dependencies import settings_of
from formcase.kit.listing import Paginated
from formcase.kit.openapi import errors
from formcase.kit.paths import item
from formcase.kit.query import QueryModel, QueryModelRoute
from formcase.kit.responses import JSONBytes

router = APIRouter(tags=["cases"], route_class=QueryModelRoute)
CASE_TEMPLATE_LIST_QUERY = QueryModel(CaseTemplateListParams)
FILTER_JSON = {"filter": CASE_FILTERS.json_schema()}
CASE_LIST_QUERY = QueryModel(CaseListParams, json=FILTER_JSON)
CASE_COUNT_QUERY = QueryModel(CaseCountParams, json=FILTER_JSON)


@router.get("/case_templates", response_model=Paginated[CaseDetailOut])
async def list_case_templates(
    params: Annotated[CaseTemplateListParams, Depends(CASE_TEMPLATE_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """Case templates of the token's workspaces, in the Case shape with `is_template: true`."""
    return JSONBytes(await templates.list_templates(session, principal, params))


@router.get("/case_templates/{template_id}", response_model=CaseDetailOut)
async def get_case_template(
    template_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """One case template with its full steps, schema, statuses and contact roles."""
    return JSONBytes(await templates.get_template(session, principal, template_id))


@router.get("/cases", response_model=Paginated[CaseOut])
async def list_cases(
    params: Annotated[CaseListParams, Depends(CASE_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """Cases of the token's workspaces, filtered, sorted and paginated (no steps or schema)."""
    return JSONBytes(await service.list_cases(session, principal, params))


@router.get("/cases/count", response_model=CaseCount)
async def count_cases(
    params: Annotated[CaseCountParams, Depends(CASE_COUNT_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> CaseCount:
    """How many cases match the same filters as the list."""
    return CaseCount(count=await service.count_cases(session, principal, params))


@router.post("/cases", response_model=CaseDetailOut, responses=errors(404, 409))
async def create_case(
    body: CaseCreate,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Create a case, from a case template (its schema, statuses, roles and steps are copied)
    or from scratch. Answers 200 with the full case, as Penbox does."""
    return JSONBytes(await service.create(session, principal, body, settings))


@router.get("/cases/" + item("case_id"), response_model=CaseDetailOut)
async def get_case(
    case_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """The full case, with its steps, schema (and values) and statuses."""
    return JSONBytes(await service.get(session, principal, case_id, settings))


@router.patch("/cases/" + item("case_id"), response_model=CaseDetailOut, responses=errors(409))
async def update_case(
    case_id: uuid.UUID,
    patch: CasePatch,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Change the title, description, status or waiting_for by hand, or archive."""
    return JSONBytes(await service.update(session, principal, case_id, patch, settings))


@router.post("/cases/{case_id}/data", response_model=CaseDetailOut, responses=errors(409))
async def update_case_data(
    case_id: uuid.UUID,
    body: CaseData,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Set schema values (all checked first: one bad value writes nothing); automatic status
    transitions watching the changed fields run."""
    return JSONBytes(await service.update_data(session, principal, case_id, body.data, settings))


@router.post("/cases/{case_id}/contacts", response_model=CaseDetailOut, responses=errors(409))
async def update_case_contacts(
    case_id: uuid.UUID,
    body: CaseContacts,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Add or change contacts by key (`remove: true` takes one off; not the main one)."""
    return JSONBytes(await service.upsert_contacts(session, principal, case_id, body, settings))


@router.post(
    "/cases/{case_id}/start/{step_key}", response_model=CaseDetailOut, responses=errors(409)
)
async def start_case_step(
    case_id: uuid.UUID,
    step_key: str,
    body: StepStart | None = None,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Run a step: a form step sends its form to the step's contact; 409 when started."""
    given = body.data if body is not None else {}
    return JSONBytes(
        await service.start_step(session, principal, case_id, step_key, given, settings)
    )


@router.get("/cases/{case_id}/timeline", response_model=Timeline)
async def case_timeline(
    case_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """Every change of the case, oldest first: when, who, what changed."""
    return JSONBytes(await service.timeline(session, principal, case_id))
