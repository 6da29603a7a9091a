"""Responses: their API shapes (the JSON:API document of GET /v1/responses/{id}, and the
summaries inside a form), and the audit trail every change leaves."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments import service as attachments
from formcase.attachments.models import Attachment
from formcase.auth.principal import Principal
from formcase.kit.errors import Forbidden, NotFound
from formcase.kit.time import utcnow
from formcase.responses import repository
from formcase.responses.models import Response, ResponseEvent


@dataclass(frozen=True)
class Client:
    """Who is filling: what Penbox records of them."""

    ip: str | None
    user_agent: str | None
    accept_language: str | None


def record(session: AsyncSession, response: Response, kind: str, client: Client) -> None:
    now = utcnow()
    response.updated_at = now
    repository.add(
        session,
        ResponseEvent(
            response_id=response.id,
            kind=kind,
            step=response.step,
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
    response: Response, form: dict[str, Any], files: list[Attachment], public_url: str
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
        "signatures": {},
        "files": by_element,
    }


async def summaries(
    session: AsyncSession, forms: Collection[dict[str, Any]], public_url: str
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The responses of each of these form documents, by form id."""
    by_id = {form["id"]: form for form in forms}
    responses = await repository.for_forms(session, list(by_id))
    files = await repository.attachments_of(session, [r.id for r in responses])
    result: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for response in responses:
        own = [file for file in files if file.response_id == response.id]
        result.setdefault(response.form_id, []).append(
            summary(response, by_id[response.form_id], own, public_url)
        )
    return result


async def granted(session: AsyncSession, principal: Principal, response_id: uuid.UUID) -> Response:
    response = await repository.get(session, response_id)
    if response is None:
        raise NotFound(f"No response with id {response_id}.")
    if not principal.grants(response.workspace_id):
        raise Forbidden(f"Response {response_id} belongs to a workspace this token does not grant.")
    return response


def document(
    response: Response, form: dict[str, Any], files: list[Attachment], public_url: str
) -> dict[str, Any]:
    """GET /v1/responses/{id}: the JSON:API document of seeds/03-get-response.txt."""
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
        "included": [
            form,
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
