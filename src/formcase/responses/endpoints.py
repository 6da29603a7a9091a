from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import get_session
from formcase.forms import service as forms
from formcase.kit.dependencies import settings_of
from formcase.kit.errors import APIError
from formcase.kit.responses import JSONBytes
from formcase.responses import repository, service

router = APIRouter(tags=["responses"])


class NotAcceptable(APIError):
    status_code = 406


@router.get("/responses/{response_id}")
async def get_response(
    response_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = Depends(get_session),
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """The response as a JSON:API document, with its form and attachments in `included`."""
    if "application/pdf" in request.headers.get("accept", ""):
        raise NotAcceptable("Response PDFs are not built yet; ask for Accept: application/json.")
    response = await service.granted(session, principal, response_id)
    form = await forms.get(session, principal, response.form_id, settings)
    files = await repository.attachments_of(session, [response.id])
    return JSONBytes(service.document(response, form, files, settings.public_url))
