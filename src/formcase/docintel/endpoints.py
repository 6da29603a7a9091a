from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.docintel import service
from formcase.docintel.schemas import DocintelCreate, DocintelJobOut
from formcase.kit.bodies import body_limit
from formcase.kit.dependencies import settings_of, storage_of
from formcase.kit.openapi import errors
from formcase.kit.responses import JSONBytes
from formcase.storage import Storage

router = APIRouter(tags=["document intelligence"])

WAIT = Query(
    None,
    ge=0,
    le=service.MAX_WAIT_SECONDS,
    description="seconds to wait for the result (at most 30): 200 when it is ready in time",
)


# Both spellings are Penbox's (its overview says -, its reference _); each its own operation.
@router.post(
    "/document-intelligence",
    response_model=DocintelJobOut,
    status_code=202,
    responses=errors(
        404, 413, 415, others={200: {"model": DocintelJobOut, "description": "done within `wait`"}}
    ),
    operation_id="create_document_intelligence",
)
@router.post(
    "/document_intelligence",
    response_model=DocintelJobOut,
    status_code=202,
    responses=errors(
        404, 413, 415, others={200: {"model": DocintelJobOut, "description": "done within `wait`"}}
    ),
    deprecated=True,
    operation_id="create_document_intelligence_job",
)
@body_limit("max_json_upload_bytes")  # the documents may come in base64
async def create_job(
    body: DocintelCreate,
    wait: float | None = WAIT,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Read documents: 202 with the job (`status: pending`) and its `Location`; the worker
    fills in `results`. With `?wait=SECONDS`, 200 with the results when they come in time."""
    job = await service.create(session, principal, body, storage, settings)
    if wait:
        job = await service.wait(session, principal, job.id, wait)
    done = job.status in (service.COMPLETED, service.FAILED)
    return JSONBytes(
        await service.document(session, job),
        status_code=200 if done else 202,
        headers={"Location": f"/v1/document-intelligence/{job.id}"},
    )


@router.get(
    "/document-intelligence/{job_id}",
    response_model=DocintelJobOut,
    operation_id="get_document_intelligence",
)
@router.get(
    "/document_intelligence/{job_id}",
    response_model=DocintelJobOut,
    deprecated=True,
    operation_id="get_document_intelligence_job",
)
async def get_job(
    job_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """A job: its status, and its results once completed (or why it failed)."""
    return JSONBytes(await service.get(session, principal, job_id))
