"""The public fill API under /f/{token}/api/ (docs/fill-api.md). The unguessable token in the
path is the only credential: no cookie or header carries authority. Cross-site requests are
refused all the same (a page elsewhere that learnt a link must not act for the contact)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.endpoints import BINARY, UPLOAD_BODY, file_response
from formcase.attachments.schemas import AttachmentOut
from formcase.auth.ratelimit import RateLimiter
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.fill import service
from formcase.fill.schemas import Declined, FillState, Submitted
from formcase.kit.bodies import OWN, body_limit
from formcase.kit.dependencies import settings_of, storage_of
from formcase.kit.errors import Forbidden
from formcase.kit.openapi import errors
from formcase.kit.responses import JSONBytes
from formcase.responses.service import Client
from formcase.signatures.schemas import SignatureOut
from formcase.storage import Storage


async def client_budget(request: Request) -> None:
    """The fill API has no token: its callers are counted by IP address."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = request.client.host if request.client else "unknown"
    await limiter.hit(limiter.budgets_for_address(address), request.scope.setdefault("state", {}))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def same_origin(request: Request) -> None:
    """CSRF guard: a browser names the origin of the page behind every POST it sends. Our own
    pages (and origins the operator allows) may call; other sites may not. Callers that are
    not browsers send no Origin and are let through: they hold the link itself."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    settings: Settings = request.app.state.settings
    allowed = {
        _origin(settings.public_url),
        _origin(str(request.base_url)),
        *(_origin(other) for other in settings.fill_allowed_origins),
    }
    if origin.lower() not in allowed:
        raise Forbidden(
            f"Requests from pages on {origin[:200]} cannot fill this form. Open the form's "
            "link, or ask the operator to allow that origin (FORMCASE_FILL_ALLOWED_ORIGINS)."
        )


router = APIRouter(
    prefix="/f/{token}/api",
    tags=["fill"],
    dependencies=[Depends(client_budget), Depends(same_origin)],
)


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(description="answers of this step, by element key")


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=2000)


def client_of(request: Request) -> Client:
    """What is recorded of the contact, cut to the lengths the database keeps."""
    user_agent = request.headers.get("user-agent")
    languages = request.headers.get("accept-language")
    return Client(
        ip=request.client.host[:64] if request.client else None,
        user_agent=user_agent[:1000] if user_agent else None,
        accept_language=languages[:200] if languages else None,
    )


@router.post("/state", response_model=FillState)
async def open_form(
    token: str,
    request: Request,
    locale: str | None = Query(
        None, pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$", description="the language the contact chose"
    ),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Open the form: creates the response the first time, resumes it after."""
    return JSONBytes(await service.open_form(session, token, client_of(request), locale, settings))


@router.post("/steps/{step_id}", response_model=FillState)
async def save_step(
    token: str,
    step_id: str,
    body: StepBody,
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Save the answers of one step (checked against the template)."""
    return JSONBytes(
        await service.save_step(session, token, step_id, body.data, client_of(request), settings)
    )


# `files/{file}` is one path with two operations: POST a file to the field named `file`, GET
# the uploaded file whose id is `file` (so that a 405 there names both methods in `Allow`).
@router.post(
    "/files/{file}",
    status_code=201,
    response_model=AttachmentOut,
    openapi_extra=UPLOAD_BODY,
    responses=errors(413, 415),
)
@body_limit(OWN)  # streamed to storage within the field's and the server's limits
async def upload_file(
    token: str,
    file: Annotated[str, Path(description="the key of the file field")],
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """A file for a file field (multipart with a `file` part, or JSON base64 as for
    /v1/attachments), checked against the field's accepted types and size."""
    document = await service.upload_file(
        session, token, file, request, storage, settings, client_of(request)
    )
    return JSONBytes(document, status_code=201)


@router.post("/submit", response_model=Submitted)
async def submit(
    token: str,
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Complete the response: every required visible field answered; hidden ones dropped."""
    return JSONBytes(await service.submit(session, token, client_of(request), settings))


@router.post("/decline", response_model=Declined)
async def decline(
    token: str,
    request: Request,
    body: DeclineBody | None = None,
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Decline the form, with an optional reason."""
    reason = body.reason if body else None
    return JSONBytes(await service.decline(session, token, reason, client_of(request), settings))


@router.get(
    "/files/{file}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": BINARY}}}},
)
async def get_uploaded_file(
    token: str,
    file: Annotated[uuid.UUID, Path(description="the uploaded file's id")],
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> Response:
    """A file the contact uploaded to this form (to preview it)."""
    attachment = await service.uploaded_file(session, token, file, client_of(request), settings)
    return file_response(attachment, storage, request, inline=True)


@router.delete("/files/{element_key}/{attachment_id}", response_model=FillState)
async def remove_uploaded_file(
    token: str,
    element_key: str,
    attachment_id: uuid.UUID,
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Take back a file uploaded to a field; answers the state."""
    return JSONBytes(
        await service.remove_file(
            session, token, element_key, attachment_id, client_of(request), settings
        )
    )


@router.get(
    "/documents/{element_key}/{index}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": BINARY}}}},
)
async def get_document_to_sign(
    token: str,
    element_key: str,
    index: int,
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> Response:
    """A PDF a signature field asks the contact to sign (1 is its first document)."""
    attachment = await service.document_to_sign(
        session, token, element_key, index, client_of(request), settings
    )
    return file_response(attachment, storage, request, inline=True)


SIGNATURE_IMAGE_CHARS = 3 * 1024 * 1024


class SignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        max_length=SIGNATURE_IMAGE_CHARS,
        description="the drawn signature: a PNG data URL (data:image/png;base64,…)",
    )


@router.post(
    "/signatures/{element_key}",
    status_code=201,
    response_model=SignatureOut,
    responses=errors(413),
)
@body_limit(SIGNATURE_IMAGE_CHARS + 4096)  # the drawn image and a little JSON around it
async def sign(
    token: str,
    element_key: str,
    body: SignBody,
    request: Request,
    session: AsyncSession = REQUEST_SESSION,
    storage: Storage = Depends(storage_of),
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Sign a signature field with a drawn image: its documents (or a signature sheet) are
    stamped and sealed with the workspace's certificate. Signing again replaces it."""
    signature = await service.sign(
        session, token, element_key, body.image, storage, settings, client_of(request)
    )
    return JSONBytes(signature, status_code=201)
