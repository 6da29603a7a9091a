from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.cases import templates
from formcase.cases.schemas import CaseDetailOut, CaseTemplateListParams
from formcase.db.engine import get_session
from formcase.kit.listing import Paginated
from formcase.kit.responses import JSONBytes

router = APIRouter(tags=["cases"])


@router.get("/case_templates", response_model=Paginated[CaseDetailOut])
async def list_case_templates(
    params: Annotated[CaseTemplateListParams, Query()],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = Depends(get_session),
) -> JSONBytes:
    """Case templates of the token's workspaces, in the Case shape with `is_template: true`."""
    return JSONBytes(await templates.list_templates(session, principal, params))


@router.get("/case_templates/{template_id}", response_model=CaseDetailOut)
async def get_case_template(
    template_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = Depends(get_session),
) -> JSONBytes:
    """One case template with its full steps, schema, statuses and contact roles."""
    return JSONBytes(await templates.get_template(session, principal, template_id))
