"""Attachments: uploads streamed into storage, type detected from the content, downloads
with ranges, and the JSON form with the content in base64."""

from __future__ import annotations

import base64
import hashlib
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from formcase.attachments import repository
from formcase.attachments.detect import detect_type, image_size
from formcase.attachments.models import Attachment
from formcase.attachments.schemas import Scope
from formcase.attachments.upload import (
    JSON_ADVICE,
    PayloadTooLarge,
    Received,
    check_length,
    receive_json,
    receive_multipart,
)
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.kit.errors import APIError, BadRequest, Forbidden, NotFound, Unprocessable
from formcase.kit.time import utcnow
from formcase.pdf.merge import MERGEABLE, CannotMerge, Part, merge
from formcase.storage import Storage

UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
# `check_name` as the OpenAPI document states it: at most 255 characters, no path separator
# or control character, something besides spaces and dots.
_SAFE = r"[^/\\\x00-\x1f\x7f]"
NAME_SCHEMA: dict[str, Any] = {
    "maxLength": 255,
    "pattern": rf"^{_SAFE}*[^/\\\x00-\x1f\x7f\s.]{_SAFE}*$",
}
JSON_DATA_LIMIT = 50 * 1024 * 1024  # GET as JSON carries the content only below this size
RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class UnsupportedMediaType(APIError):
    status_code = 415


def to_document(attachment: Attachment, public_url: str) -> dict[str, Any]:
    """An attachment in its API shape (`AttachmentOut`)."""
    return {
        "id": attachment.id,
        "name": attachment.name,
        "type": attachment.type,
        "scope": attachment.scope,
        "metadata": {
            "size": attachment.size,
            "width": attachment.width,
            "height": attachment.height,
            "sha256": attachment.sha256,
            "declared_type": attachment.declared_type,
        },
        "uri": f"{public_url}/v1/attachments/{attachment.id}",
        "created_at": attachment.created_at,
    }


def type_accepted(kind: str, accept: list[str] | None) -> bool:
    """Whether a file of media type `kind` suits an `accept` list (`image/*` style; no list
    accepts everything)."""
    return not accept or any(
        kind == wanted or (wanted.endswith("/*") and kind.startswith(wanted[:-1]))
        for wanted in accept
    )


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise BadRequest("The file needs a name (field 'name', or the file part's filename).")
    if len(name) > 255:
        raise BadRequest("A file name may be at most 255 characters.")
    if UNSAFE_NAME.search(name) or name in (".", ".."):
        raise BadRequest(
            f"File name {name!r} holds a path separator or a control character; "
            "send the bare name, such as 'invoice.pdf'."
        )
    return name


def _workspace(principal: Principal, company: uuid.UUID | None) -> uuid.UUID:
    if company is not None:
        if not principal.grants(company):
            raise Forbidden(f"This token does not grant access to workspace '{company}'.")
        return company
    if len(principal.workspace_ids) > 1:
        raise BadRequest(
            "This token grants several workspaces: name one with ?company=<workspace id>."
        )
    return next(iter(principal.workspace_ids))


def _media_type(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


async def receive(
    request: Request,
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    workspace_id: uuid.UUID,
    *,
    limit: int | None = None,
    accept: Callable[[Attachment], None] | None = None,
) -> Attachment:
    """Stream the request's file into storage and describe it (not yet saved in the
    database). `accept` may refuse it, by raising, before it is stored under its hash."""
    limit = min(limit or settings.max_upload_bytes, settings.max_upload_bytes)
    # No database connection is held while the bytes arrive, however long that takes.
    await session.close()
    media_type = _media_type(request.headers.get("content-type", ""))
    writer = storage.writer(limit=limit)
    try:
        if media_type == "multipart/form-data":
            check_length(request, limit + 64 * 1024)
            received = await receive_multipart(request, writer, limit, settings.max_upload_fields)
        elif media_type == "application/json":
            check_length(request, settings.max_json_upload_bytes, JSON_ADVICE)
            received = await receive_json(request, writer, settings.max_json_upload_bytes)
        else:
            raise UnsupportedMediaType(
                "Send the file as multipart/form-data (a part named 'file') or as JSON "
                "{name, data (base64), type?, scope?}."
            )
        name = check_name(received.name)
        if writer.size == 0:
            raise BadRequest("The file is empty.")
        attachment = _describe(received, name, writer.size, workspace_id)
        if accept is not None:
            accept(attachment)
        stored = await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    attachment.sha256 = stored.key
    return attachment


async def upload(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    settings: Settings,
    company: uuid.UUID | None,
) -> dict[str, Any]:
    attachment = await receive(request, session, storage, settings, _workspace(principal, company))
    await repository.add(session, attachment)
    await session.commit()
    return to_document(attachment, settings.public_url)


def _describe(received: Received, name: str, size: int, workspace_id: uuid.UUID) -> Attachment:
    detected = detect_type(received.head, name)
    width, height = image_size(received.head, detected)
    declared = _media_type(received.declared_type)[:255] if received.declared_type else None
    now = utcnow()
    return Attachment(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        name=name,
        type=detected,
        declared_type=declared if declared and declared != detected else None,
        scope=received.scope.value,
        size=size,
        width=width,
        height=height,
        sha256="",  # known once stored
        created_at=now,
        updated_at=now,
    )


async def store_bytes(
    session: AsyncSession,
    storage: Storage,
    workspace_id: uuid.UUID,
    content: bytes,
    name: str,
    *,
    scope: Scope = Scope.RESTRICTED,
    response_id: uuid.UUID | None = None,
    element_key: str | None = None,
) -> Attachment:
    """A file the server made (a signed PDF, a drawn signature), stored and added to the
    session like an upload."""
    writer = storage.writer()
    try:
        await writer.write(content)
        stored = await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    received = Received(name=check_name(name), declared_type=None, scope=scope, head=content[:4096])
    attachment = _describe(received, received.name, len(content), workspace_id)
    attachment.sha256 = stored.key
    attachment.response_id = response_id
    attachment.element_key = element_key
    await repository.add(session, attachment)
    return attachment


async def read_bytes(storage: Storage, attachment: Attachment) -> bytes:
    """The whole content of a file small enough to hold in memory (documents to sign)."""
    return b"".join([chunk async for chunk in storage.read(attachment.sha256)])


async def granted(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID
) -> Attachment:
    attachment = await repository.get(session, attachment_id)
    principal.require("Attachment", attachment_id, attachment.workspace_id if attachment else None)
    assert attachment is not None
    return attachment


async def with_data(attachment: Attachment, storage: Storage, public_url: str) -> dict[str, Any]:
    if attachment.size > JSON_DATA_LIMIT:
        raise PayloadTooLarge(
            f"This file is {attachment.size} bytes; as JSON only files under "
            f"{JSON_DATA_LIMIT} bytes are sent. Ask for Accept: application/octet-stream."
        )
    content = await read_bytes(storage, attachment)
    return {**to_document(attachment, public_url), "data": base64.b64encode(content).decode()}


@dataclass(frozen=True)
class Download:
    status: int
    headers: dict[str, str]
    body: AsyncIterator[bytes] | None


def download(
    attachment: Attachment, storage: Storage, request: Request, *, inline: bool = False
) -> Download:
    """The bytes, or the part of them a `Range` asks for; 304 when the caller has them.
    `inline`: for a browser to show (a document to read before signing), not save."""
    etag = f'"{attachment.sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(attachment.name, inline=inline),
        "Cache-Control": "private, max-age=0, must-revalidate",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Download(304, headers, None)
    size = attachment.size
    requested = _range(request.headers.get("range"), size)
    if_range = request.headers.get("if-range")
    if requested is None or (if_range is not None and if_range != etag):
        return Download(
            200,
            {**headers, "Content-Length": str(size)},
            storage.read(attachment.sha256),
        )
    start, end = requested
    if start >= size:
        return Download(416, {**headers, "Content-Range": f"bytes */{size}"}, None)
    return Download(
        206,
        {
            **headers,
            "Content-Length": str(end - start),
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
        },
        storage.read(attachment.sha256, start, end),
    )


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range as [start, end); None when absent or not one plain range (the
    whole file is sent then, as RFC 9110 allows)."""
    match = RANGE.fullmatch(header.strip()) if header else None
    if match is None or (not match[1] and not match[2]):
        return None
    if not match[1]:  # the last N bytes
        return max(0, size - int(match[2])), size
    start = int(match[1])
    end = min(size, int(match[2]) + 1) if match[2] else size
    if match[2] and int(match[2]) < start:
        return None
    return start, max(start, end)


def content_disposition(name: str, *, inline: bool = False) -> str:
    """`attachment` (or `inline`) with an ASCII fallback name and the exact one in RFC 5987
    form."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


MERGE_LIMIT = 200  # attachments in one merged PDF


@dataclass(frozen=True)
class Merged:
    file: BinaryIO  # the PDF, positioned at its start; the caller closes it
    size: int
    pages: int
    filename: str


_UUID = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
# What `_merge_ids` takes, as the OpenAPI document states it: 1 to MERGE_LIMIT UUIDs,
# separated by commas (spaces and empty parts ignored).
MERGE_IDS = rf"^[\s,]*{_UUID}(?:\s*,[\s,]*{_UUID}){{0,{MERGE_LIMIT - 1}}}[\s,]*$"


def _merge_ids(ids: str) -> list[uuid.UUID]:
    parts = [part.strip() for part in ids.split(",") if part.strip()]
    if not parts:
        raise BadRequest("Query parameter 'ids' needs one or more attachment ids, comma-separated.")
    if len(parts) > MERGE_LIMIT:
        raise BadRequest(f"At most {MERGE_LIMIT} attachments can be merged at once.")
    bad = []
    parsed = []
    for part in parts:
        try:
            parsed.append(uuid.UUID(part))
        except ValueError:
            bad.append(part)
    if bad:
        raise BadRequest(f"Query parameter 'ids': not attachment ids: {', '.join(bad)}.")
    return parsed


async def merged(
    session: AsyncSession,
    principal: Principal,
    storage: Storage,
    ids: str,
    filename: str | None,
) -> Merged:
    """One PDF of the given attachments, in the order given."""
    wanted = _merge_ids(ids)
    name = check_name(filename or "attachments").removesuffix(".pdf") + ".pdf"
    found = await repository.get_many(session, wanted)
    missing = [str(i) for i in dict.fromkeys(wanted) if i not in found]
    if missing:
        raise NotFound(f"No attachment with id {', '.join(missing)}.")
    foreign = [str(i) for i in dict.fromkeys(wanted) if not principal.grants(found[i].workspace_id)]
    if foreign:
        raise Forbidden(
            f"Attachment {', '.join(foreign)} belongs to a workspace this token does not grant."
        )
    unmergeable = [found[i] for i in dict.fromkeys(wanted) if found[i].type not in MERGEABLE]
    if unmergeable:
        listed = ", ".join(f"{a.name} ({a.type})" for a in unmergeable)
        raise Unprocessable(f"These attachments cannot be turned into PDF pages: {listed}.")
    await session.close()  # no connection is held while files are read and merged
    out: BinaryIO = tempfile.TemporaryFile()  # noqa: SIM115 (the response closes it)
    try:
        with tempfile.TemporaryDirectory(prefix="formcase-merge-") as folder:
            paths = {}
            for attachment_id in dict.fromkeys(wanted):
                key = found[attachment_id].sha256
                on_disk = storage.local_path(key)
                if on_disk is not None:  # read in place; other stores are copied here first
                    paths[attachment_id] = on_disk
                    continue
                paths[attachment_id] = Path(folder) / attachment_id.hex
                async with await anyio.open_file(paths[attachment_id], "wb") as file:
                    async for chunk in storage.read(key):
                        await file.write(chunk)
            parts = [Part(found[i].name, found[i].type, paths[i]) for i in wanted]
            pages = await anyio.to_thread.run_sync(merge, parts, out)
    except CannotMerge as exc:
        out.close()
        raise Unprocessable(str(exc)) from None
    except BaseException:
        out.close()
        raise
    size = out.tell()
    out.seek(0)
    return Merged(out, size, pages, name)


async def read_and_close(file: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await anyio.to_thread.run_sync(file.read, 1 << 20):
            yield chunk
    finally:
        file.close()


@dataclass
class Sweep:
    removed: list[str]
    kept_young: int  # unreferenced files too recent to remove (an upload may be finishing)


async def sweep_orphans(
    session: AsyncSession, storage: Storage, grace: timedelta, dry_run: bool = False
) -> Sweep:
    """Remove stored files no attachment points to, and half-written leftovers, once older
    than `grace` (a file is stored a moment before its row is written)."""
    referenced = await repository.sizes_by_key(session)
    await session.rollback()  # no transaction held open while the store is listed
    cutoff = utcnow() - grace
    result = Sweep(removed=[], kept_young=0)
    async for entry in storage.entries():
        if not entry.partial and entry.key in referenced:
            continue
        if entry.modified > cutoff:
            result.kept_young += 1
            continue
        result.removed.append(("partial " if entry.partial else "") + entry.key)
        if not dry_run:
            await storage.remove(entry)
    return result


async def verify_files(session: AsyncSession, storage: Storage) -> list[str]:
    """Re-hash every stored file attachments point to; the problems found, in words."""
    problems = []
    for key, size in sorted((await repository.sizes_by_key(session)).items()):
        if not await storage.exists(key):
            problems.append(f"{key}: missing")
            continue
        digest, length = hashlib.sha256(), 0
        async for chunk in storage.read(key):
            digest.update(chunk)
            length += len(chunk)
        if digest.hexdigest() != key:
            problems.append(f"{key}: content hashes to {digest.hexdigest()}")
        elif length != size:
            problems.append(f"{key}: {length} bytes stored, {size} recorded")
    return problems
