"""Document-intelligence jobs: checked and queued by the API, run by the worker
(docintel.jobs), read back with GET. Nothing is read from a document in the request: a
request only checks that each file can be read (type, encryption, pages)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import repository as attachments_repository
from formcase.attachments import service as attachments
from formcase.attachments.detect import detect_type
from formcase.attachments.models import Attachment
from formcase.attachments.service import UnsupportedMediaType
from formcase.attachments.upload import PayloadTooLarge
from formcase.auth.models import ApiToken
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.docintel import text
from formcase.docintel.models import DocintelJob
from formcase.docintel.schemas import TEMPLATES, AttachmentIn, DocintelCreate, FieldIn
from formcase.kit.errors import BadRequest
from formcase.kit.time import utcnow
from formcase.storage import Storage
from formcase.worker import jobs
from formcase.workspaces import service as workspaces

Document = dict[str, Any]

JOB_KIND = "docintel.extract"
PENDING, PROCESSING, COMPLETED, FAILED = "pending", "processing", "completed", "failed"
SUPPORTED = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/tiff": "TIFF",
    "image/heic": "HEIC",
    "image/heif": "HEIF",
}
MAX_WAIT_SECONDS = 30


def field_key(name: str) -> str:
    """A snake_case key made from a field's name ("Date de naissance" -> date_de_naissance)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    key = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if key and key[0].isdigit():
        key = "field_" + key
    return key[:120]


def _fields(given: list[FieldIn]) -> list[dict[str, Any]]:
    if not given:
        raise BadRequest("Field 'fields' is empty: name at least one field to find.")
    fields: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, field in enumerate(given):
        key = field.key if field.key is not None else field_key(field.name)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            what = "key" if field.key is not None else "name"
            raise BadRequest(
                f"Field 'fields[{number}].{what}': "
                + (
                    f"'{key}' is not snake_case (a-z, 0-9, _; a letter first)."
                    if field.key is not None
                    else f"no key can be made from '{field.name}': give a key."
                )
            )
        if key in seen:
            raise BadRequest(f"Field 'fields[{number}].key': two fields have the key '{key}'.")
        seen.add(key)
        fields.append({"key": key, "name": field.name, "type": field.type, "hint": field.hint})
    return fields


def _template(given: Any) -> str:
    name = given if isinstance(given, str) else given.id
    if name not in TEMPLATES:
        raise BadRequest(
            f"Field 'template': '{name}' is not a template (built-in: {', '.join(TEMPLATES)})."
        )
    return str(name)


async def _workspace(
    session: AsyncSession, principal: Principal, body: DocintelCreate
) -> uuid.UUID:
    named = body.workspace.id if body.workspace is not None else body.company
    if named is not None:
        return (await workspaces.granted(session, principal, workspace_id=named)).id
    if len(principal.workspace_ids) == 1:
        return next(iter(principal.workspace_ids))
    raise BadRequest("Field 'workspace.id' is required: this token grants several workspaces.")


@dataclass
class _File:
    where: str
    name: str
    media_type: str
    content: bytes
    existing: Attachment | None  # None: sent as data, stored once every file passed


def _check_size(where: str, name: str, size: int, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"Field '{where}': '{name}' is {size} bytes; document intelligence reads files of "
            f"up to {limit} bytes (FORMCASE_DOCINTEL_MAX_FILE_BYTES)."
        )


async def _file(
    session: AsyncSession,
    storage: Storage,
    workspace_id: uuid.UUID,
    item: AttachmentIn,
    where: str,
    limit: int,
) -> _File:
    if item.id is not None and item.data is not None:
        raise BadRequest(f"Field '{where}': give either an id or data, not both.")
    if item.id is not None:
        found = await attachments_repository.get(session, item.id)
        if found is None or found.workspace_id != workspace_id:
            raise BadRequest(f"Field '{where}.id': no attachment {item.id} in this workspace.")
        _check_size(where, found.name, found.size, limit)  # before it is read into memory
        content = await attachments.read_bytes(storage, found)
        return _File(where, found.name, found.type, content, found)
    if item.data is None:
        raise BadRequest(f"Field '{where}': give an attachment id, or data with name and type.")
    if not item.name or not item.type:
        raise BadRequest(f"Field '{where}': a file sent as data needs its name and type.")
    data = item.data.split(",", 1)[1] if item.data.startswith("data:") else item.data
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"Field '{where}.data' is not valid base64.") from None
    if not content:
        raise BadRequest(f"Field '{where}.data' is empty.")
    name = attachments.check_name(item.name)
    _check_size(where, name, len(content), limit)
    return _File(where, name, detect_type(content[:4096], name), content, None)


async def create(
    session: AsyncSession,
    principal: Principal,
    body: DocintelCreate,
    storage: Storage,
    settings: Settings,
) -> DocintelJob:
    if not body.attachments:
        raise BadRequest("Field 'attachments' is empty: send at least one document to read.")
    if (body.fields is None) == (body.template is None):
        raise BadRequest(
            "Give exactly one of 'fields' (what to find) or 'template' (invoice, id_document)."
        )
    fields = _fields(body.fields) if body.fields is not None else None
    template = _template(body.template) if body.template is not None else None
    workspace_id = await _workspace(session, principal, body)

    files = []
    pages = 0
    for number, item in enumerate(body.attachments):
        file = await _file(
            session,
            storage,
            workspace_id,
            item,
            f"attachments[{number}]",
            settings.docintel_max_file_bytes,
        )
        if file.media_type not in SUPPORTED:
            raise UnsupportedMediaType(
                f"Field '{file.where}': '{file.name}' is {file.media_type}; document "
                f"intelligence reads {', '.join(sorted(set(SUPPORTED.values())))} files."
            )
        try:
            pages += await anyio.to_thread.run_sync(
                text.inspect, file.content, file.media_type, settings.docintel_max_pages
            )
        except text.UnreadableDocument as exc:
            raise BadRequest(f"Field '{file.where}': '{file.name}' {exc.message}") from None
        if pages > settings.docintel_max_pages:
            raise BadRequest(
                f"Field 'attachments': the documents have more than "
                f"{settings.docintel_max_pages} pages in all, the limit of one job."
            )
        files.append(file)

    described = []
    for file in files:
        attachment = file.existing or await attachments.store_bytes(
            session, storage, workspace_id, file.content, file.name
        )
        described.append(
            {"id": str(attachment.id), "name": attachment.name, "type": file.media_type}
        )
    now = utcnow()
    job = DocintelJob(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        token_id=principal.token_id,
        status=PENDING,
        language=body.language,
        template=template,
        fields=fields,
        attachments=described,
        pages=pages,
        results=None,
        error=None,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    jobs.add(session, JOB_KIND, {"job_id": str(job.id)}, workspace_id=workspace_id)
    await session.commit()
    return job


async def granted(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> DocintelJob:
    job = await session.get(DocintelJob, job_id, populate_existing=True)
    principal.require("Document intelligence job", job_id, job.workspace_id if job else None)
    assert job is not None
    return job


async def document(session: AsyncSession, job: DocintelJob) -> Document:
    """The job as the API shows it (reference §10.2)."""
    token_name = (
        await session.scalar(select(ApiToken.name).where(ApiToken.id == job.token_id))
        if job.token_id is not None
        else None
    )
    return {
        "id": job.id,
        "status": job.status,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "language": job.language,
        "template": job.template,
        "attachments": [
            {"id": item["id"], "name": item["name"], "type": item["type"]}
            for item in job.attachments
        ],
        "results": job.results,
        "error": job.error,
        "creator": {"id": job.token_id, "email": None, "name": token_name},
        "usage": {"input": 0, "output": 0, "total": 0, "pages": job.pages},
    }


async def wait(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, seconds: float
) -> DocintelJob:
    """The job once it is completed or failed, or as it is after `seconds`."""
    deadline = time.monotonic() + min(seconds, MAX_WAIT_SECONDS)
    pause = 0.05
    while True:
        await session.rollback()  # a new snapshot: the worker commits in another connection
        job = await granted(session, principal, job_id)
        if job.status in (COMPLETED, FAILED) or time.monotonic() >= deadline:
            return job
        await asyncio.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 2, 0.5)


async def get(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> Document:
    return await document(session, await granted(session, principal, job_id))
