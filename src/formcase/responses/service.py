"""Responses: their API shapes (the JSON:API document of GET /v1/responses/{id}, and the
summaries inside a form), and the audit trail every change leaves."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import repository as attachments_repository
from formcase.attachments import service as attachments
from formcase.attachments.models import Attachment
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.forms import repository as forms_repository
from formcase.kit.time import utcnow
from formcase.pdf.response import (
    EventEntry,
    FileEntry,
    ResponseDocument,
    SignatureEntry,
    response_pdf,
)
from formcase.responses import repository
from formcase.responses.models import Response, ResponseEvent
from formcase.signatures import repository as signatures_repository
from formcase.signatures import service as signatures
from formcase.storage import Storage
from formcase.templates import service as templates
from formcase.workspaces import certificates
from formcase.workspaces import repository as workspaces_repository


@dataclass(frozen=True)
class Client:
    """Who is filling: what Penbox records of them."""

    ip: str | None
    user_agent: str | None
    accept_language: str | None


def record(
    session: AsyncSession, response: Response, kind: str, client: Client, *, step: str | None
) -> None:
    """An audit event. `step` is the step it happened in: the one saved, the one holding the
    file or signature element, or where the contact stopped (`response.step`)."""
    now = utcnow()
    response.updated_at = now
    repository.add(
        session,
        ResponseEvent(
            response_id=response.id,
            kind=kind,
            step=step,
            at=now,
            ip=client.ip,
            user_agent=client.user_agent,
        ),
    )


def _user(response: Response, form: dict[str, Any]) -> dict[str, Any]:
    user = form["user"]
    return {
        "anonymous": user["anonymous"],
        "ip": response.ip,
        "email": user["email"],
        "phone": user["phone"],
        "locale": response.locale or user["locale"],
        "given_name": user["given_name"],
        "family_name": user["family_name"],
        "user-agent": response.user_agent,
        "accept-language": response.accept_language,
    }


def summary(
    response: Response,
    form: dict[str, Any],
    files: list[Attachment],
    public_url: str,
    signed: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """A response as the form object carries it (`responses[]`)."""
    by_element: dict[str, list[str]] = {}
    for file in files:
        if file.element_key:
            by_element.setdefault(file.element_key, []).append(str(file.id))
    return {
        "id": response.id,
        "completed_at": response.completed_at,
        "declined_at": response.declined_at,
        "updated_at": response.updated_at,
        "data": response.data,
        "user": _user(response, form),
        "attachments": [attachments.to_document(file, public_url) for file in files],
        "signatures": signed,  # element key -> the signature (as GET /v1/signatures/{id})
        "files": by_element,
    }


async def summaries(
    session: AsyncSession, forms: Collection[dict[str, Any]], public_url: str
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The responses of each of these form documents, by form id."""
    by_id = {form["id"]: form for form in forms}
    responses = await repository.for_forms(session, list(by_id))
    ids = [r.id for r in responses]
    files = await repository.attachments_of(session, ids)
    signed = await signatures.for_responses(session, ids)
    result: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for response in responses:
        own = [file for file in files if file.response_id == response.id]
        result.setdefault(response.form_id, []).append(
            summary(response, by_id[response.form_id], own, public_url, signed.get(response.id, {}))
        )
    return result


async def granted(session: AsyncSession, principal: Principal, response_id: uuid.UUID) -> Response:
    response = await repository.get(session, response_id)
    principal.require("Response", response_id, response.workspace_id if response else None)
    assert response is not None
    return response


def document(
    response: Response, form: dict[str, Any], files: list[Attachment], public_url: str
) -> dict[str, Any]:
    """GET /v1/responses/{id}: the JSON:API document of seeds/03-get-response.txt
    (`ResponseDocumentOut`)."""
    user = _user(response, form)
    return {
        "data": {
            "id": response.id,
            "type": "responses",
            "attributes": {
                "$created_at": response.created_at,
                "$updated_at": response.updated_at,
                "completed_at": response.completed_at,
                "declined_at": response.declined_at,
                "user": {
                    key: user[key]
                    for key in ("email", "given_name", "family_name", "phone", "locale")
                },
                "data": response.data,
                "rating": response.rating,
            },
            "relationships": {
                "request": {"data": {"id": str(response.form_id), "type": "requests"}},
                "attachments": {
                    "data": [{"id": str(file.id), "type": "attachments"} for file in files]
                },
            },
        },
        # Resource objects, each found by its relationship's linkage (type and id); the
        # attributes are the object as the rest of the API gives it.
        "included": [
            {"id": form["id"], "type": "requests", "attributes": form},
            *(
                {
                    "id": file.id,
                    "type": "attachments",
                    "attributes": attachments.to_document(file, public_url),
                }
                for file in files
            ),
        ],
    }


async def pdf_document(
    session: AsyncSession, response: Response, storage: Storage
) -> ResponseDocument:
    """Everything the response's PDF shows: its form and template version, files,
    signatures with their drawn images, and audit trail."""
    form = await forms_repository.get(session, response.form_id)
    assert form is not None  # a response goes with its form (ON DELETE CASCADE)
    workspace = await workspaces_repository.by_id(session, response.workspace_id)
    assert workspace is not None
    files = await repository.attachments_of(session, [response.id])
    by_id = {file.id: file for file in files}
    signed = []
    for signature in await signatures_repository.for_responses(session, [response.id]):
        image = by_id.get(signature.image_id) or await attachments_repository.get(
            session, signature.image_id
        )
        signed.append(
            SignatureEntry(
                key=signature.key,
                name=signature.name,
                signer_name=signature.signer_name,
                signer_email=signature.signer_email,
                signed_at=signature.created_at,
                ip=signature.ip,
                user_agent=signature.user_agent,
                sha256=signature.sha256,
                documents=[str(d.get("name", "")) for d in signature.documents],
                image_png=await attachments.read_bytes(storage, image) if image else None,
            )
        )
    names = (form["user_given_name"], form["user_family_name"])
    return ResponseDocument(
        workspace=workspace.name,
        template=await templates.definition_by_id(session, form["template_version_id"]),
        locale=response.locale or form["user_locale"],
        form_id=response.form_id,
        response_id=response.id,
        created_at=response.created_at,
        updated_at=response.updated_at,
        completed_at=response.completed_at,
        declined_at=response.declined_at,
        decline_reason=response.decline_reason,
        contact_name=" ".join(part for part in names if part) or None,
        contact_email=form["user_email"],
        data=response.data,
        files=[
            FileEntry(id=f.id, name=f.name, type=f.type, size=f.size, sha256=f.sha256)
            for f in files
        ],
        signatures=signed,
        events=[
            EventEntry(kind=e.kind, step=e.step, at=e.at, ip=e.ip, user_agent=e.user_agent)
            for e in await repository.events_of(session, response.id)
        ],
    )


async def pdf(
    session: AsyncSession, response: Response, storage: Storage, settings: Settings
) -> bytes:
    """GET /v1/responses/{id} as application/pdf: rendered and sealed in a worker thread."""
    # The certificate first: on SQLite, making one for an older workspace writes.
    material = await certificates.signing_material(session, response.workspace_id, settings)
    document = await pdf_document(session, response, storage)
    return await anyio.to_thread.run_sync(response_pdf, document, material)
