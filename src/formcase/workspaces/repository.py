"""Workspace and member queries; the one place that scopes by the workspaces a token grants."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, UnaryExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.kit.listing import paged
from formcase.workspaces.models import Member, Workspace, WorkspaceCertificate


async def by_slug(session: AsyncSession, slug: str) -> Workspace | None:
    return (
        await session.execute(select(Workspace).where(Workspace.slug == slug))
    ).scalar_one_or_none()


async def by_id(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def by_ids(session: AsyncSession, ids: Collection[uuid.UUID]) -> list[Workspace]:
    rows = await session.execute(select(Workspace).where(Workspace.id.in_(ids)))
    return list(rows.scalars())


async def page(
    session: AsyncSession,
    ids: Collection[uuid.UUID],
    order: list[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> tuple[list[Workspace], int]:
    where: ColumnElement[bool] = Workspace.id.in_(ids)
    total = (await session.execute(select(func.count()).where(where))).scalar_one()
    rows = await session.execute(
        paged(select(Workspace).where(where).order_by(*order), limit, offset)
    )
    return list(rows.scalars()), total


async def member_by_email(
    session: AsyncSession, workspace_id: uuid.UUID, email: str
) -> Member | None:
    return (
        await session.execute(
            select(Member).where(
                Member.workspace_id == workspace_id, func.lower(Member.email) == email.lower()
            )
        )
    ).scalar_one_or_none()


async def count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Workspace))).scalar_one()


async def certificate_of(
    session: AsyncSession, workspace_id: uuid.UUID
) -> WorkspaceCertificate | None:
    return (
        await session.execute(
            select(WorkspaceCertificate).where(WorkspaceCertificate.workspace_id == workspace_id)
        )
    ).scalar_one_or_none()
