"""Form queries. Every read is scoped to the workspaces the caller's token grants."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import (
    Result,
    SQLColumnExpression,
    UnaryExpression,
    bindparam,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.forms.models import Form, FormTally
from formcase.kit import tallies
from formcase.kit.filters import BoundFilters
from formcase.kit.listing import paged
from formcase.templates.models import FormTemplateVersion
from formcase.workspaces.models import Member, Workspace

_forms, _workspaces = Form.__table__, Workspace.__table__
_members, _versions = Member.__table__, FormTemplateVersion.__table__

# A form's columns with what its API shape adds: workspace slug, owner email, template
# version. Plain Core rows, not ORM objects: what is listed is read, not changed.
_WITH_REFS = (
    select(
        *_forms.columns,
        _workspaces.c.slug.label("workspace_slug"),
        _members.c.email.label("owner_email"),
        _versions.c.version.label("flow_version"),
    )
    .join(_workspaces, _workspaces.c.id == _forms.c.workspace_id)
    .join(_versions, _versions.c.id == _forms.c.template_version_id)
    .outerjoin(_members, _members.c.id == _forms.c.owner_id)
)
# Built once, so that SQLAlchemy computes its cache key once rather than per request.
_BY_ID = _WITH_REFS.where(_forms.c.id == bindparam("form_id"))

# A form as `_WITH_REFS` reads it: column name -> value (a dict reads faster than a Row).
FormRow = dict[str, Any]


def _as_dicts(result: Result[*tuple[Any, ...]]) -> list[FormRow]:
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


async def add(session: AsyncSession, form: Form) -> None:
    session.add(form)
    await session.flush()


async def get(session: AsyncSession, form_id: uuid.UUID) -> FormRow | None:
    """Any workspace's form: the service decides between 403 and 200."""
    found = _as_dicts(await session.execute(_BY_ID, {"form_id": form_id}))
    return found[0] if found else None


async def get_for_update(session: AsyncSession, form_id: uuid.UUID) -> Form | None:
    return (
        await session.execute(select(Form).where(Form.id == form_id).with_for_update())
    ).scalar_one_or_none()


async def page(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    order: list[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> list[FormRow]:
    rows = await session.execute(
        paged(
            _WITH_REFS.where(_forms.c.workspace_id.in_(workspace_ids), *filters.clauses()).order_by(
                *order
            ),
            limit,
            offset,
        ),
        filters.values,
    )
    return _as_dicts(rows)


async def count(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
) -> int:
    return (
        await session.execute(
            select(func.count())
            .select_from(_forms)
            .where(_forms.c.workspace_id.in_(workspace_ids), *filters.clauses()),
            filters.values,
        )
    ).scalar_one()


async def count_by(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    group: SQLColumnExpression[Any],
) -> list[tuple[Any, int]]:
    rows = await session.execute(
        select(group, func.count())
        .select_from(_forms)
        .where(_forms.c.workspace_id.in_(workspace_ids), *filters.clauses())
        .group_by(group),
        filters.values,
    )
    return [(value, number) for value, number in rows.all()]


async def tally(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    group: SQLColumnExpression[Any] | None = None,
) -> list[tuple[Any, int]]:
    """Form counts from the tallies (`filters` bound by the tallies' spec): [(group value,
    count)], or [(None, total)] ungrouped."""
    tallies = FormTally.__table__.c
    total = func.coalesce(func.sum(tallies.delta), 0)
    scope = [tallies.workspace_id.in_(workspace_ids), *filters.clauses()]
    if group is None:
        counted = await session.execute(select(total).where(*scope), filters.values)
        return [(None, counted.scalar_one())]
    rows = await session.execute(
        select(group, total).where(*scope).group_by(group).having(func.sum(tallies.delta) != 0),
        filters.values,
    )
    return [(value, int(number)) for value, number in rows.all()]


async def compact_tallies(session: AsyncSession) -> None:
    """Sum each key's tally rows into one (kit.tallies)."""
    key = ("workspace_id", "flow_slug", "status", "archived")
    await tallies.compact(session, "form_tallies", key)


async def by_fill_token(session: AsyncSession, token: str, *, lock: bool = True) -> Form | None:
    """The form behind a fill link, locked for the change the contact is making (`lock`;
    a page that only shows it needs no lock)."""
    query = select(Form).where(Form.fill_token == token)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
