from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import service
from formcase.attachments.models import Attachment
from formcase.attachments.schemas import AttachmentOut, AttachmentWithData
from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.bodies import OWN, body_limit
from formcase.kit.dependencies import settings_of, storage_of
from formcase.kit.openapi import errors
from formcase.kit.responses import JSONBytes
from formcase.storage import Storage

router = APIRouter(tags=["attachments"])
BINARY = {"type": "string", "format": "binary"}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "name": {"type": "string", **service.NAME_SCHEMA},
                        "type": {"type": "string"},
                        "scope": {"type": "string", "enum": ["public", "restricted"]},
                    },
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "data"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", **service.NAME_SCHEMA},
                        "data": {
                            "type": "string",
                            "format": "byte",
                            "minLength": 1,
                            "description": "the content, base64 (not empty)",
                        },
                        "type": {"type": "string"},
                        "scope": {"type": "string", "enum": ["public", "restricted"]},
                    },
                }
            },
        },
    }
}


@router.post(
    "/attachments",
    response_model=AttachmentOut,
    status_code=201,
    openapi_extra=UPLOAD_BODY,
    responses=errors(413, 415),
)
@body_limit(OWN)  # streamed to storage within FORMCASE_MAX_UPLOAD_BYTES (JSON: ..._JSON_...)
async def upload_attachment(
    request: Request,
    company: uuid.UUID | None = Query(None, description="workspace id, when the token has several"),
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Upload a file: multipart/form-data with a `file` part (streamed; up to
    FORMCASE_MAX_UPLOAD_BYTES), or JSON with the content in base64 (up to
    FORMCASE_MAX_JSON_UPLOAD_BYTES). The type is detected from the content."""
    document = await service.upload(request, session, principal, storage, settings, company)
    return JSONBytes(document, status_code=201)


@router.get(
    "/attachments",
    response_class=StreamingResponse,
    responses=errors(
        404,
        422,
        others={
            200: {
                "content": {"application/pdf": {"schema": BINARY}},
                "description": "the merged PDF",
                "headers": {"X-Page-Count": {"schema": {"type": "integer"}}},
            }
        },
    ),
)
async def merge_attachments(
    ids: str = Query(
        description="attachment ids, comma-separated, in page order",
        json_schema_extra={"pattern": service.MERGE_IDS},
    ),
    filename: str | None = Query(
        None,
        description="name of the PDF, without extension",
        json_schema_extra=service.NAME_SCHEMA,
    ),
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
) -> StreamingResponse:
    """One PDF with all the attachments, in the order given: PDFs merged, images as pages,
    plain text typeset. `X-Page-Count` says how many pages it has."""
    result = await service.merged(session, principal, storage, ids, filename)
    return StreamingResponse(
        service.read_and_close(result.file),
        media_type="application/pdf",
        headers={
            "Content-Length": str(result.size),
            "Content-Disposition": service.content_disposition(result.filename),
            "X-Page-Count": str(result.pages),
        },
    )


@router.get(
    "/attachments/{attachment_id}",
    response_model=AttachmentWithData,
    responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}}},
)
async def get_attachment(
    attachment_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> Response:
    """`Accept: application/octet-stream` (or the file's own type): the bytes, with `Range`
    and `ETag`. Otherwise JSON: the metadata and the content in base64 (files under 50 MB)."""
    attachment = await service.granted(session, principal, attachment_id)
    accept = request.headers.get("accept", "")
    if "application/octet-stream" not in accept and attachment.type not in accept:
        return JSONBytes(await service.with_data(attachment, storage, settings.public_url))
    return file_response(attachment, storage, request)


def file_response(
    attachment: Attachment,
    storage: Storage,
    request: Request,
    *,
    inline: bool = False,
    media_type: str | None = None,
) -> Response:
    """A stored file as an HTTP answer: ranges, ETag, 304."""
    download = service.download(attachment, storage, request, inline=inline)
    if download.body is None:
        return Response(status_code=download.status, headers=download.headers)
    return StreamingResponse(
        download.body,
        status_code=download.status,
        headers=download.headers,
        media_type=media_type or attachment.type,
    )
