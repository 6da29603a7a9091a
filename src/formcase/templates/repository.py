"""Form template queries, scoped to the workspaces a caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.kit.listing import paged
from formcase.templates.models import FormTemplate, FormTemplateVersion
from formcase.workspaces.models import Workspace


async def by_slug(
    session: AsyncSession, workspace_ids: Collection[uuid.UUID], slug: str
) -> list[tuple[FormTemplate, Workspace]]:
    rows = await session.execute(
        select(FormTemplate, Workspace)
        .join(Workspace, Workspace.id == FormTemplate.workspace_id)
        .where(FormTemplate.workspace_id.in_(workspace_ids), FormTemplate.slug == slug)
    )
    return [(template, workspace) for template, workspace in rows.all()]


async def in_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, slug: str
) -> FormTemplate | None:
    return (
        await session.execute(
            select(FormTemplate).where(
                FormTemplate.workspace_id == workspace_id, FormTemplate.slug == slug
            )
        )
    ).scalar_one_or_none()


async def version(
    session: AsyncSession, template_id: uuid.UUID, number: int
) -> FormTemplateVersion | None:
    return (
        await session.execute(
            select(FormTemplateVersion).where(
                FormTemplateVersion.template_id == template_id,
                FormTemplateVersion.version == number,
            )
        )
    ).scalar_one_or_none()


async def page(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    where: list[ColumnElement[bool]],
    order: list[UnaryExpression[Any]],
    limit: int | None,
    offset: int = 0,
) -> tuple[list[tuple[FormTemplate, Workspace]], int]:
    scope = [FormTemplate.workspace_id.in_(workspace_ids), *where]
    total = (
        await session.execute(select(func.count()).select_from(FormTemplate).where(*scope))
    ).scalar_one()
    rows = await session.execute(
        paged(
            select(FormTemplate, Workspace)
            .join(Workspace, Workspace.id == FormTemplate.workspace_id)
            .where(*scope)
            .order_by(*order),
            limit,
            offset,
        )
    )
    return [(template, workspace) for template, workspace in rows.all()], total


async def in_workspace_all(session: AsyncSession, workspace_id: uuid.UUID) -> list[FormTemplate]:
    rows = await session.execute(
        select(FormTemplate)
        .where(FormTemplate.workspace_id == workspace_id)
        .order_by(FormTemplate.slug)
    )
    return list(rows.scalars())
