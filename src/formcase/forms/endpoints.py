from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.forms import service
from formcase.forms.filters import FORM_FILTERS
from formcase.forms.schemas import (
    FormCount,
    FormCountParams,
    FormCreate,
    FormListParams,
    FormOut,
    FormPatch,
)
from formcase.kit.dependencies import settings_of
from formcase.kit.listing import Paginated
from formcase.kit.openapi import errors
from formcase.kit.paths import item
from formcase.kit.query import QueryModel, QueryModelRoute
from formcase.kit.responses import JSONBytes

# The read and write paths answer plain data encoded by orjson (JSONBytes); the
# `response_model`s document the exact shapes, and tests hold the two together.
router = APIRouter(tags=["forms"], route_class=QueryModelRoute)
FILTER_JSON = {"filter": FORM_FILTERS.json_schema()}
FORM_LIST_QUERY = QueryModel(FormListParams, json=FILTER_JSON)
FORM_COUNT_QUERY = QueryModel(FormCountParams, spellings={"group_by": "group-by"}, json=FILTER_JSON)


@router.get("/forms", response_model=Paginated[FormOut])
async def list_forms(
    params: Annotated[FormListParams, Depends(FORM_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Forms of the token's workspaces, filtered, sorted and paginated."""
    return JSONBytes(await service.list_forms(session, principal, params, settings))


@router.get("/requests", response_model=list[FormOut], deprecated=True)
async def list_requests(
    params: Annotated[FormListParams, Depends(FORM_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """The older name of /forms: the same filters, a bare array."""
    return JSONBytes((await service.list_forms(session, principal, params, settings))["data"])


@router.get("/forms/count", response_model=FormCount, response_model_exclude_none=True)
@router.get(
    "/requests/count",
    response_model=FormCount,
    response_model_exclude_none=True,
    deprecated=True,
    operation_id="count_requests",
)
async def count_forms(
    params: Annotated[FormCountParams, Depends(FORM_COUNT_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> FormCount:
    """How many forms match; `group-by` splits the count by status, user or data field."""
    return await service.count_forms(session, principal, params)


@router.post("/forms", response_model=FormOut, status_code=201, responses=errors(404, 409))
@router.post(
    "/requests",
    response_model=FormOut,
    status_code=201,
    responses=errors(404, 409),
    deprecated=True,
    operation_id="create_request",
)
async def create_form(
    body: FormCreate,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Create a form from a template and (unless `draft`) send it to the contact."""
    return JSONBytes(await service.create(session, principal, body, settings), status_code=201)


@router.get("/forms/" + item("form_id"), response_model=FormOut)
@router.get(
    "/requests/" + item("form_id"),
    response_model=FormOut,
    deprecated=True,
    operation_id="get_request",
)
async def get_form(
    form_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    return JSONBytes(await service.get(session, principal, form_id, settings))


@router.patch("/forms/" + item("form_id"), response_model=FormOut, responses=errors(422))
@router.patch(
    "/requests/" + item("form_id"),
    response_model=FormOut,
    responses=errors(422),
    deprecated=True,
    operation_id="update_request",
)
async def update_form(
    form_id: uuid.UUID,
    patch: FormPatch,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Archive or unarchive, activate a draft, mark processed, change active_until."""
    return JSONBytes(await service.update(session, principal, form_id, patch, settings))
