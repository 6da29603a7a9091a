from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.forms import service as forms
from formcase.kit.dependencies import settings_of, storage_of
from formcase.kit.responses import JSONBytes
from formcase.responses import repository, service
from formcase.responses.schemas import ResponseDocumentOut
from formcase.storage import Storage

router = APIRouter(tags=["responses"])


JSON_TYPES = ("application/json", "application/vnd.api+json")


def wants_pdf(accept: str) -> bool:
    """Whether the Accept header asks for application/pdf before JSON (by q-value; a tie
    goes to the PDF, which was named)."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.lower()] = max(weights.get(media.lower(), 0.0), weight)
    pdf = weights.get("application/pdf", 0.0)
    return pdf > 0 and pdf >= max((weights.get(kind, 0.0) for kind in JSON_TYPES), default=0.0)


# The JSON answer is plain data encoded by orjson; `response_model` documents its shape and
# tests hold the two together. The PDF is the same operation's other media type.
@router.get(
    "/responses/{response_id}",
    response_model=ResponseDocumentOut,
    responses={
        200: {
            "description": "The response as JSON:API, or with `Accept: application/pdf` as a "
            "sealed PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def get_response(
    response_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
    storage: Storage = Depends(storage_of),
) -> Response:
    """The response as a JSON:API document, with its form and attachments in `included`;
    with `Accept: application/pdf`, as a PDF sealed with the workspace's certificate."""
    response = await service.granted(session, principal, response_id)
    if wants_pdf(request.headers.get("accept", "")):
        content = await service.pdf(session, response, storage, settings)
        return Response(
            content,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="response-{response.id}.pdf"'},
        )
    form = await forms.get(session, principal, response.form_id, settings)
    files = await repository.attachments_of(session, [response.id])
    return JSONBytes(service.document(response, form, files, settings.public_url))
