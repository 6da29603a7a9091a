"""Form queries. Every read is scoped to the workspaces the caller's token grants."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.db.rows import Row, fetch_rows, fetch_value
from formcase.forms.filters import SORTABLE
from formcase.forms.models import Form, FormTally
from formcase.kit import tallies
from formcase.kit.filters import BoundFilters, FilterSpec, Shape
from formcase.kit.listing import order_by
from formcase.templates.models import FormTemplateVersion
from formcase.workspaces.models import Member, Workspace

_forms, _workspaces = Form.__table__, Workspace.__table__
_members, _versions = Member.__table__, FormTemplateVersion.__table__
_tallies = FormTally.__table__
_TALLY_KEY = frozenset(("workspace_id", "flow_slug", "status", "archived"))

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

# A form as `_WITH_REFS` reads it, by column name: a dict, or on a read session a driver
# record (db.rows).
FormRow = Row


async def add(session: AsyncSession, form: Form) -> None:
    session.add(form)
    await session.flush()


async def get(session: AsyncSession, form_id: uuid.UUID) -> FormRow | None:
    """Any workspace's form: the service decides between 403 and 200."""
    found = await fetch_rows(session, _BY_ID, {"form_id": form_id})
    return found[0] if found else None


async def get_for_update(session: AsyncSession, form_id: uuid.UUID) -> Form | None:
    return (
        await session.execute(select(Form).where(Form.id == form_id).with_for_update())
    ).scalar_one_or_none()


_TALLIED = tallies.Tallied(_forms, _tallies, _TALLY_KEY)


# Built once per shape of the filters (and sort), every value a bound parameter: building a
# page's statement, and SQLAlchemy's cache key of it, cost more CPU than fetching its rows.
@lru_cache(maxsize=256)
def _page_statement(
    spec: FilterSpec, shape: tuple[Shape, ...], sort: str | None
) -> tuple[Select[Any], bool]:
    """The page's statement, and whether its rows carry the tally count (`total_count`)."""
    order = order_by(sort, SORTABLE, "-created_at", _forms.c.id)
    return _TALLIED.page(_WITH_REFS, spec.clauses(shape), order)


@lru_cache(maxsize=256)
def _count_statement(spec: FilterSpec, shape: tuple[Shape, ...]) -> Select[Any]:
    return _TALLIED.count(spec.clauses(shape))


def _values(
    workspace_ids: Collection[uuid.UUID], filters: BoundFilters, **more: Any
) -> dict[str, Any]:
    return {**filters.values, "workspace_ids": list(workspace_ids), **more}


async def page(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[FormRow], int | None]:
    """A page of forms, straight from the driver (db.rows), and how many match when the
    tallies can say (each row carries that sum, which the database makes once for the
    statement): a full page then needs no second query. None when the page is empty or the
    filters need a count of the forms."""
    statement, carries_total = _page_statement(filters.spec, filters.shape, sort)
    values = _values(workspace_ids, filters, limit=limit, offset=offset)
    rows = await fetch_rows(session, statement, values)
    if not carries_total or not rows:
        return rows, None
    return rows, int(rows[0]["total_count"])


async def count(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
) -> int:
    """How many forms match (from the tallies when they can say)."""
    statement = _count_statement(filters.spec, filters.shape)
    return int(await fetch_value(session, statement, _values(workspace_ids, filters)) or 0)


async def count_by(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    group: ColumnElement[Any],
) -> list[tuple[Any, int]]:
    """(group value, forms) for each value present (from the tallies when they can say)."""
    statement = _TALLIED.count_by(filters.clauses(), group)
    rows = await session.execute(statement, _values(workspace_ids, filters))
    return [(value, int(number)) for value, number in rows.all()]


async def compact_tallies(session: AsyncSession) -> None:
    """Sum each key's tally rows into one (kit.tallies)."""
    await tallies.compact(session, "form_tallies", sorted(_TALLY_KEY))


async def by_fill_token(session: AsyncSession, token: str, *, lock: bool = True) -> Form | None:
    """The form behind a fill link, locked for the change the contact is making (`lock`;
    a page that only shows it needs no lock)."""
    query = select(Form).where(Form.fill_token == token)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
