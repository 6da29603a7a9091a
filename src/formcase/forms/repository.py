"""Form queries. Every read is scoped to the workspaces the caller's token grants."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any, Unpack

from sqlalchemy import ColumnElement, Row, SQLColumnExpression, UnaryExpression, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.forms.models import Form
from formcase.templates.models import FormTemplateVersion
from formcase.workspaces.models import Member, Workspace

# A form's columns with what its API shape adds: workspace slug, owner email, template
# version. Plain rows, not ORM objects: a page of 100 forms is read, not changed.
_WITH_REFS = (
    select(
        *Form.__table__.columns,
        Workspace.slug.label("workspace_slug"),
        Member.email.label("owner_email"),
        FormTemplateVersion.version.label("flow_version"),
    )
    .join(Workspace, Workspace.id == Form.workspace_id)
    .join(FormTemplateVersion, FormTemplateVersion.id == Form.template_version_id)
    .outerjoin(Member, Member.id == Form.owner_id)
)

FormRow = Row[Unpack[tuple[Any, ...]]]


async def add(session: AsyncSession, form: Form) -> None:
    session.add(form)
    await session.flush()


async def get(session: AsyncSession, form_id: uuid.UUID) -> FormRow | None:
    """Any workspace's form: the service decides between 403 and 200."""
    return (await session.execute(_WITH_REFS.where(Form.id == form_id))).first()


async def get_for_update(session: AsyncSession, form_id: uuid.UUID) -> Form | None:
    return (
        await session.execute(select(Form).where(Form.id == form_id).with_for_update())
    ).scalar_one_or_none()


async def page(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    where: Sequence[ColumnElement[bool]],
    order: list[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> tuple[list[FormRow], int]:
    scope = [Form.workspace_id.in_(workspace_ids), *where]
    total = (
        await session.execute(select(func.count()).select_from(Form).where(*scope))
    ).scalar_one()
    if total <= offset:
        return [], total
    rows = await session.execute(
        _WITH_REFS.where(*scope).order_by(*order).limit(limit).offset(offset)
    )
    return list(rows.all()), total


async def count(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    where: Sequence[ColumnElement[bool]],
) -> int:
    return (
        await session.execute(
            select(func.count())
            .select_from(Form)
            .where(Form.workspace_id.in_(workspace_ids), *where)
        )
    ).scalar_one()


async def count_by(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    where: Sequence[ColumnElement[bool]],
    group: SQLColumnExpression[Any],
) -> list[tuple[Any, int]]:
    rows = await session.execute(
        select(group, func.count())
        .select_from(Form)
        .where(Form.workspace_id.in_(workspace_ids), *where)
        .group_by(group)
    )
    return [(value, number) for value, number in rows.all()]
