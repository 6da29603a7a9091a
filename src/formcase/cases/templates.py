"""Case templates: imported from files, listed and read in the Case shape (`is_template:
true`), copied into the cases made from them."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.principal import Principal
from formcase.cases import repository
from formcase.cases.format import CaseTemplateFile, SchemaField, Step
from formcase.cases.models import CaseTemplate
from formcase.cases.schemas import CaseTemplateListParams
from formcase.kit import definitions
from formcase.kit.errors import BadRequest
from formcase.kit.listing import PageMeta, order_by
from formcase.kit.time import utcnow
from formcase.workspaces import service as workspaces

# Six characters people can read out without confusion (no 0/O, 1/I/L).
REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
SORTABLE = {
    "created_at": repository.case_templates.created_at,
    "updated_at": repository.case_templates.updated_at,
    "title": repository.case_templates.title,
}

Document = dict[str, Any]


def read_file(path: Path) -> CaseTemplateFile:
    return definitions.read(path, CaseTemplateFile, "case template")


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


def _checksum(template: CaseTemplateFile) -> tuple[dict[str, Any], str]:
    document = template.model_dump(mode="json", by_alias=True, exclude_unset=True)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return document, hashlib.sha256(canonical.encode()).hexdigest()


async def import_template(
    session: AsyncSession, workspace_slug: str, template: CaseTemplateFile
) -> tuple[CaseTemplate, str]:
    """Add the template, or replace the definition of the workspace's template with its slug
    (cases already made keep their copy). Returns it and "created", "updated" or
    "unchanged"."""
    workspace = await workspaces.get_by_slug(session, workspace_slug)
    document, checksum = _checksum(template)
    row = await repository.template_by_slug(session, workspace.id, template.slug)
    now = utcnow()
    if row is not None and row.checksum == checksum:
        return row, "unchanged"
    if row is None:
        row = CaseTemplate(
            id=uuid.uuid4(),
            workspace_id=workspace.id,
            slug=template.slug,
            reference=new_reference(),
            created_at=now,
        )
        session.add(row)
        state = "created"
    else:
        state = "updated"
    row.title = template.title
    row.description = template.description
    row.locale = template.locale
    row.definition = document
    row.checksum = checksum
    row.updated_at = now
    await session.commit()
    return row, state


_DEFINITIONS: dict[str, CaseTemplateFile] = {}  # by checksum: the same text parses the same


def definition(row: CaseTemplate) -> CaseTemplateFile:
    parsed = _DEFINITIONS.get(row.checksum)
    if parsed is None:
        if len(_DEFINITIONS) > 256:
            _DEFINITIONS.clear()
        parsed = _DEFINITIONS[row.checksum] = CaseTemplateFile.model_validate(row.definition)
    return parsed


def schema_field_document(field: SchemaField, value: Any) -> Document:
    options = field.model_dump(
        mode="json", exclude={"key", "type", "name", "value"}, exclude_none=True
    )
    return {
        "key": field.key,
        "type": field.type.value,
        "name": field.name,
        "value": value,
        "options": options,
    }


def step_settings(step: Step) -> Document:
    """What a step does, as its `data` shows it."""
    return step.model_dump(
        mode="json", exclude={"key", "title", "type"}, exclude_none=True, by_alias=True
    )


def template_document(row: repository.TemplateRow) -> Document:
    template: CaseTemplate = row.template
    parsed = definition(template)
    statuses = list(parsed.all_statuses())
    return {
        "id": template.id,
        "title": template.title,
        "parent_status": "draft",
        "created_at": template.created_at,
        "updated_at": template.updated_at,
        "description": template.description,
        "locale": template.locale,
        "reference": template.reference,
        "status": parsed.initial_status or statuses[0].key,
        "waiting_for": "none",
        "archived_at": template.archived_at,
        "contacts": [
            {
                "id": None,
                "key": role.key,
                "name": role.label,
                "email": None,
                "given_name": None,
                "family_name": None,
                "phone": None,
                "main": role.main,
            }
            for role in parsed.contacts
        ],
        "template": None,
        "owner": row.owner,
        "workspace": {"id": row.workspace_id, "slug": row.workspace_slug},
        "is_template": True,
        "slug": template.slug,
        "steps": [
            {
                "id": None,
                "key": step.key,
                "title": step.title,
                "type": step.type.value,
                "status": "available",
                "data": step_settings(step),
                "form": None,
                "notification": None,
                "started_at": None,
                "completed_at": None,
            }
            for step in parsed.steps
        ],
        "schema": [schema_field_document(field, field.value) for field in parsed.schema_],
        "statuses": [
            {"key": status.key, "label": status.label, "parent_status": status.parent_status.value}
            for status in statuses
        ],
    }


async def list_templates(
    session: AsyncSession, principal: Principal, params: CaseTemplateListParams
) -> Document:
    scope = principal.workspace_ids
    if params.workspace_slug is not None or params.workspace_id is not None:
        named = await workspaces.granted(
            session, principal, slug=params.workspace_slug, workspace_id=params.workspace_id
        )
        scope = frozenset({named.id})
    where = repository.template_filters(
        title=params.title,
        owner_id=params.owner_id,
        owner_email=params.owner_email,
        archived=params.archived,
    )
    order = order_by(params.sort, SORTABLE, "-created_at", repository.case_templates.id)
    page = params.page()
    total = await repository.count_templates(session, scope, where)
    rows = await repository.page_templates(session, scope, where, order, page.size, page.offset)
    return {
        "meta": PageMeta.of(total, page).model_dump(),
        "data": [template_document(row) for row in rows],
    }


async def get_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> Document:
    row = await repository.template_row(session, template_id)
    principal.require("Case template", template_id, row.workspace_id if row else None)
    assert row is not None
    return template_document(row)


async def usable(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> repository.TemplateRow:
    """A template the caller may make cases from (400 when not: it is a field of the
    request, not the resource asked for)."""
    row = await repository.template_row(session, template_id)
    if row is None or row.workspace_id not in principal.workspace_ids:
        raise BadRequest(
            f"Field 'template.id': no case template {template_id} in this token's workspaces."
        )
    if row.template.archived_at is not None:
        raise BadRequest(f"Field 'template.id': case template {template_id} is archived.")
    return row
