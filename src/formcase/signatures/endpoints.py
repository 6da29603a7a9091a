from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.endpoints import BINARY, file_response
from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.dependencies import storage_of
from formcase.kit.openapi import errors
from formcase.kit.responses import JSONBytes
from formcase.signatures import service
from formcase.signatures.schemas import SignatureOut
from formcase.storage import Storage

router = APIRouter(tags=["signatures"])


@router.get(
    "/signatures/{signature_id}",
    response_model=SignatureOut,
    responses=errors(
        409,
        others={
            200: {
                "content": {
                    "application/octet-stream": {"schema": BINARY},
                    "application/pdf": {"schema": BINARY},
                },
                "description": "the metadata, or with `Accept` the signed PDF",
            }
        },
    ),
)
async def get_signature(
    signature_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
) -> Response:
    """The signature's metadata (JSON), or with `Accept: application/octet-stream` (or
    `application/pdf`) the signed file: the documents stamped with the drawn signature and
    sealed with the workspace's certificate."""
    signature = await service.granted(session, principal, signature_id)
    signed = await service.signed_file(session, signature)
    accept = request.headers.get("accept", "")
    if "application/octet-stream" in accept:
        return file_response(signed, storage, request, media_type="application/octet-stream")
    if "application/pdf" in accept:
        return file_response(signed, storage, request)
    return JSONBytes(service.document(signature, signed))
