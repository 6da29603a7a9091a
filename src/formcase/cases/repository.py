"""Case and case template queries. Every list is scoped to the workspaces the caller's token
grants."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.cases.models import CaseTemplate
from formcase.workspaces.models import Member, Workspace

case_templates = CaseTemplate.__table__.c


@dataclass(frozen=True)
class TemplateRow:
    template: CaseTemplate
    workspace_id: uuid.UUID
    workspace_slug: str
    owner: dict[str, Any] | None


def _owner(member: Member | None) -> dict[str, Any] | None:
    if member is None:
        return None
    return {
        "id": member.id,
        "email": member.email,
        "given_name": member.given_name,
        "family_name": member.family_name,
    }


_TEMPLATES = (
    select(CaseTemplate, Workspace.slug, Member)
    .join(Workspace, Workspace.id == CaseTemplate.workspace_id)
    .outerjoin(Member, Member.id == CaseTemplate.owner_id)
)


async def template_by_slug(
    session: AsyncSession, workspace_id: uuid.UUID, slug: str
) -> CaseTemplate | None:
    return await session.scalar(
        select(CaseTemplate).where(
            CaseTemplate.workspace_id == workspace_id, CaseTemplate.slug == slug
        )
    )


async def template_row(session: AsyncSession, template_id: uuid.UUID) -> TemplateRow | None:
    found = (await session.execute(_TEMPLATES.where(CaseTemplate.id == template_id))).first()
    if found is None:
        return None
    template, slug, member = found
    return TemplateRow(template, template.workspace_id, slug, _owner(member))


def template_filters(
    *, title: str | None, owner_id: uuid.UUID | None, owner_email: str | None, archived: bool
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        CaseTemplate.archived_at.is_not(None) if archived else CaseTemplate.archived_at.is_(None)
    ]
    if title:
        escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(func.lower(CaseTemplate.title).like(f"%{escaped.lower()}%", escape="\\"))
    if owner_id is not None:
        where.append(CaseTemplate.owner_id == owner_id)
    if owner_email is not None:
        where.append(
            CaseTemplate.owner_id.in_(
                select(Member.id).where(func.lower(Member.email) == owner_email.lower())
            )
        )
    return where


async def count_templates(
    session: AsyncSession, workspace_ids: Collection[uuid.UUID], where: list[ColumnElement[bool]]
) -> int:
    total = await session.scalar(
        select(func.count())
        .select_from(CaseTemplate)
        .where(CaseTemplate.workspace_id.in_(list(workspace_ids)), *where)
    )
    return int(total or 0)


async def page_templates(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    where: list[ColumnElement[bool]],
    order: Sequence[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> list[TemplateRow]:
    rows = await session.execute(
        _TEMPLATES.where(CaseTemplate.workspace_id.in_(list(workspace_ids)), *where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return [
        TemplateRow(template, template.workspace_id, slug, _owner(member))
        for template, slug, member in rows
    ]
