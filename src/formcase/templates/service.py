"""Form templates: import (versioned), listing, and finding the one a caller means."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.principal import Principal
from formcase.kit import definitions
from formcase.kit.errors import BadRequest, Conflict, NotFound
from formcase.kit.listing import order_by
from formcase.kit.time import utcnow
from formcase.templates import repository
from formcase.templates.format import TemplateFile, localise
from formcase.templates.models import FormTemplate, FormTemplateVersion
from formcase.templates.schemas import StepOut, TemplateOut, TemplateSelector
from formcase.workspaces import service as workspaces
from formcase.workspaces.models import Workspace
from formcase.workspaces.schemas import WorkspaceRef

SORTABLE: dict[str, SQLColumnExpression[Any]] = {
    "created_at": FormTemplate.created_at,
    "updated_at": FormTemplate.updated_at,
    "name": FormTemplate.name,
    "slug": FormTemplate.slug,
}


@dataclass(frozen=True)
class Resolved:
    """A template as a caller means it: which one, in which workspace, at which version."""

    template: FormTemplate
    workspace: Workspace
    version: FormTemplateVersion
    definition: TemplateFile


def read_file(path: Path) -> TemplateFile:
    """Parse and validate a JSON or YAML template file; errors say where and why."""
    return definitions.read(path, TemplateFile, "template")


def parse_definition(raw: Any, source: str = "template") -> TemplateFile:
    return definitions.parse(raw, TemplateFile, "template", source)


# Versions are immutable, so a parsed definition can be kept by id in every process.
_DEFINITIONS: dict[uuid.UUID, TemplateFile] = {}
_DEFINITIONS_KEPT = 512


def definition(version: FormTemplateVersion) -> TemplateFile:
    parsed = _DEFINITIONS.get(version.id)
    if parsed is None:
        if len(_DEFINITIONS) >= _DEFINITIONS_KEPT:
            _DEFINITIONS.clear()
        parsed = _DEFINITIONS[version.id] = TemplateFile.model_validate(version.definition)
    return parsed


async def definition_by_id(session: AsyncSession, version_id: uuid.UUID) -> TemplateFile:
    """The parsed template of a version (a form's), read only when not already kept."""
    parsed = _DEFINITIONS.get(version_id)
    if parsed is not None:
        return parsed
    version = await session.get(FormTemplateVersion, version_id)
    if version is None:
        raise LookupError(f"no template version {version_id}")
    return definition(version)


def _checksum(template: TemplateFile) -> tuple[dict[str, Any], str]:
    document = template.model_dump(mode="json", by_alias=True, exclude_unset=True)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return document, hashlib.sha256(canonical.encode()).hexdigest()


async def publish(
    session: AsyncSession, workspace_slug: str, template: TemplateFile
) -> tuple[FormTemplate, int, bool]:
    """Publish a template: a new slug gets version 1, a changed one the next version, an
    unchanged one stays as it is. Returns (template, version, whether anything changed)."""
    workspace = await workspaces.get_by_slug(session, workspace_slug)
    document, checksum = _checksum(template)
    row = await repository.in_workspace(session, workspace.id, template.slug)
    now = utcnow()
    if row is not None:
        current = await repository.version(session, row.id, row.current_version)
        if current is not None and current.checksum == checksum:
            return row, row.current_version, False
        row.current_version += 1
        row.name = template.name
        row.locale = template.locale
        row.updated_at = now
    else:
        row = FormTemplate(
            workspace_id=workspace.id,
            slug=template.slug,
            name=template.name,
            locale=template.locale,
            current_version=1,
        )
        session.add(row)
        await session.flush()
    session.add(
        FormTemplateVersion(
            template_id=row.id,
            version=row.current_version,
            definition=document,
            checksum=checksum,
            created_at=now,
        )
    )
    await session.commit()
    return row, row.current_version, True


async def set_archived(
    session: AsyncSession, workspace_slug: str, slug: str, archived: bool
) -> FormTemplate:
    workspace = await workspaces.get_by_slug(session, workspace_slug)
    row = await repository.in_workspace(session, workspace.id, slug)
    if row is None:
        raise NotFound(f"No form template '{slug}' in workspace '{workspace_slug}'.")
    row.archived_at = (row.archived_at or utcnow()) if archived else None
    await session.commit()
    return row


async def in_workspace(session: AsyncSession, workspace_slug: str) -> list[FormTemplate]:
    workspace = await workspaces.get_by_slug(session, workspace_slug)
    return await repository.in_workspace_all(session, workspace.id)


def to_out(template: FormTemplate, workspace: Workspace) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        created_at=template.created_at,
        updated_at=template.updated_at,
        slug=template.slug,
        name=template.name,
        archived_at=template.archived_at,
        enabled=template.enabled,
        version=template.current_version,
        locale=template.locale,
        workspace=WorkspaceRef(id=workspace.id, slug=workspace.slug),
    )


async def list_for(
    session: AsyncSession,
    principal: Principal,
    *,
    archived: bool,
    only_archived: bool = False,
    sort: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[TemplateOut], int]:
    where: list[ColumnElement[bool]] = []
    if only_archived:
        where.append(FormTemplate.archived_at.is_not(None))
    elif not archived:
        where += [FormTemplate.archived_at.is_(None), FormTemplate.enabled.is_(True)]
    order = order_by(sort, SORTABLE, "-created_at", FormTemplate.id)
    rows, total = await repository.page(
        session, principal.workspace_ids, where, order, limit, offset
    )
    return [to_out(template, workspace) for template, workspace in rows], total


async def resolve(
    session: AsyncSession,
    principal: Principal,
    slug: str,
    *,
    workspace_slug: str | None = None,
    workspace_id: uuid.UUID | None = None,
    usable: bool = False,
) -> Resolved:
    """The template `slug` among the caller's workspaces (or the one they name).

    404 when none has it, 409 when several do and the caller named none; with `usable`, an
    archived or disabled template counts as absent (forms cannot be created from it).
    """
    scope = principal.workspace_ids
    if workspace_slug is not None or workspace_id is not None:
        named = await workspaces.granted(
            session, principal, slug=workspace_slug, workspace_id=workspace_id
        )
        scope = frozenset({named.id})
    found = await repository.by_slug(session, scope, slug)
    if not found:
        raise NotFound(f"No form template '{slug}' in the workspaces this token grants.")
    if len(found) > 1:
        names = ", ".join(sorted(workspace.slug for _, workspace in found))
        raise Conflict(
            f"More than one form template '{slug}' ({names}); name the workspace "
            "(company.slug in a body, ?company= in a query)."
        )
    template, workspace = found[0]
    if usable and (template.archived_at is not None or not template.enabled):
        raise NotFound(
            f"Form template '{slug}' is archived or disabled in workspace '{workspace.slug}'."
        )
    version = await repository.version(session, template.id, template.current_version)
    if version is None:
        raise NotFound(f"Form template '{slug}' has no published version.")
    return Resolved(template, workspace, version, definition(version))


async def resolve_selected(
    session: AsyncSession, principal: Principal, slug: str, selector: TemplateSelector
) -> Resolved:
    workspace_slug, workspace_id = selector.workspace_slug, selector.workspace_id
    if selector.company:
        try:
            workspace_id = uuid.UUID(selector.company)
        except ValueError:
            workspace_slug = selector.company
    return await resolve(
        session, principal, slug, workspace_slug=workspace_slug, workspace_id=workspace_id
    )


def steps_of(template: TemplateFile, locale: str | None) -> list[StepOut]:
    """The API view of a template's steps, labels in one language."""
    if locale is not None and locale not in (template.locales or [template.locale]):
        raise BadRequest(
            f"Locale '{locale}' is not one of this template's: "
            f"{', '.join(template.locales or [template.locale])}."
        )
    chosen, default = locale or template.locale, template.locale
    steps = []
    for step in template.steps:
        elements = []
        for element in step.elements:
            raw = element.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            raw = {"key": element.key, "type": element.type.value, **raw}
            raw["required"] = element.required
            for name in ("label", "description", "placeholder", "content"):
                if name in raw:
                    raw[name] = localise(getattr(element, name), chosen, default)
            raw.setdefault("label", None)
            if element.options:
                raw["options"] = [
                    {"value": option.value, "label": localise(option.label, chosen, default)}
                    for option in element.options
                ]
            elements.append(raw)
        steps.append(
            StepOut(
                id=step.id,
                title=localise(step.title, chosen, default),
                description=localise(step.description, chosen, default),
                visible_if=(
                    step.visible_if.model_dump(mode="json", by_alias=True, exclude_unset=True)
                    if step.visible_if
                    else None
                ),
                elements=elements,
            )
        )
    return steps
