"""Case and case template queries. Every list is scoped to the workspaces the caller's token
grants."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    UnaryExpression,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.models import Attachment
from formcase.cases.filters import SORTABLE
from formcase.cases.models import (
    Case,
    CaseContact,
    CaseEvent,
    CaseStep,
    CaseTally,
    CaseTemplate,
)
from formcase.db.rows import Row, as_dicts, fetch_rows, fetch_value
from formcase.kit import tallies
from formcase.kit.filters import BoundFilters, FilterSpec, Shape
from formcase.kit.listing import order_by, paged
from formcase.kit.responses import api_json
from formcase.signatures.models import Signature
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
        paged(
            _TEMPLATES.where(CaseTemplate.workspace_id.in_(list(workspace_ids)), *where).order_by(
                *order
            ),
            limit,
            offset,
        )
    )
    return [
        TemplateRow(template, template.workspace_id, slug, _owner(member))
        for template, slug, member in rows
    ]


# --- cases -------------------------------------------------------------------------------

cases = Case.__table__.c
_cases, _workspaces, _members = Case.__table__, Workspace.__table__, Member.__table__
_contacts = CaseContact.__table__

_FULL_ONLY = ("schema", "data", "config")
# A case's columns with what its API shape adds: workspace slug, owner. Plain Core rows.
_WITH_REFS = (
    select(
        *_cases.columns,
        _workspaces.c.slug.label("workspace_slug"),
        _members.c.email.label("owner_email"),
        _members.c.given_name.label("owner_given_name"),
        _members.c.family_name.label("owner_family_name"),
    )
    .join(_workspaces, _workspaces.c.id == _cases.c.workspace_id)
    .outerjoin(_members, _members.c.id == _cases.c.owner_id)
)

# What a list shows: the same, without the JSON columns only a full case shows (`schema`,
# `data`, `config`: ~2 KB a case, read and decoded for nothing in a page of 100).
_LISTED = _WITH_REFS.with_only_columns(
    *(column for column in _WITH_REFS.selected_columns if column.name not in _FULL_ONLY),
    maintain_column_froms=True,
)

# A contact as a case shows it, in the order it shows them (the main contact first).
_SHOWN_CONTACT = (
    CaseContact.id,
    CaseContact.key,
    CaseContact.name,
    CaseContact.email,
    CaseContact.given_name,
    CaseContact.family_name,
    CaseContact.phone,
    CaseContact.main,
)
_SHOWN_KEYS = tuple(column.key for column in _SHOWN_CONTACT)


# The main contact first, then the others as they were added (by key among those added
# together, so that the order is the same on every read).
_CONTACT_ORDER = (CaseContact.main.desc(), CaseContact.created_at, CaseContact.key)


def contacts_json(contacts: Iterable[CaseContact]) -> str:
    """`cases.contacts_json`: the contacts as the API shows them, in the order it shows them
    (as `_CONTACT_ORDER`: the main contact first, then as they were added, then by key)."""
    ordered = sorted(
        contacts, key=lambda contact: (not contact.main, contact.created_at, contact.key)
    )
    return api_json(
        [{key: getattr(contact, key) for key in _SHOWN_KEYS} for contact in ordered]
    ).decode()


# A case as plain values by column name: a dict, or on the list path a driver record.
CaseRow = Row


async def case_row(session: AsyncSession, case_id: uuid.UUID) -> CaseRow | None:
    found = as_dicts(await session.execute(_WITH_REFS.where(_cases.c.id == case_id)))
    return found[0] if found else None


async def get_for_update(session: AsyncSession, case_id: uuid.UUID) -> Case | None:
    return await session.scalar(select(Case).where(Case.id == case_id).with_for_update())


_tallies = CaseTally.__table__
_TALLY_KEY = frozenset(
    ("workspace_id", "template_id", "status", "parent_status", "waiting_for", "archived")
)


_TALLIED = tallies.Tallied(_cases, _tallies, _TALLY_KEY)


def _values(
    workspace_ids: Collection[uuid.UUID], filters: BoundFilters, **more: Any
) -> dict[str, Any]:
    return {**filters.values, "workspace_ids": list(workspace_ids), **more}


# The statements are built once per shape of the filters (and sort), with every value a bound
# parameter: building, and SQLAlchemy's cache key of, a page's statement cost more CPU than
# the driver's fetch of its 100 rows (docs/benchmarks.md).
@lru_cache(maxsize=256)
def _count_statement(spec: FilterSpec, shape: tuple[Shape, ...]) -> Select[Any]:
    """A sum over a few tally rows when the filters are on the tally's key only (status,
    parent_status, waiting_for, archived, template, workspace), else a count of the cases."""
    return _TALLIED.count(spec.clauses(shape))


@lru_cache(maxsize=256)
def _page_statement(
    spec: FilterSpec, shape: tuple[Shape, ...], sort: str | None
) -> tuple[Select[Any], bool]:
    """The page's statement, and whether its rows carry the tally count (`total_count`)."""
    order = order_by(sort, SORTABLE, "-created_at", _cases.c.id)
    return _TALLIED.page(_LISTED, spec.clauses(shape), order)


async def count_cases(
    session: AsyncSession, workspace_ids: Collection[uuid.UUID], filters: BoundFilters
) -> int:
    """How many cases match (from the tallies when they can say)."""
    total = await fetch_value(
        session, _count_statement(filters.spec, filters.shape), _values(workspace_ids, filters)
    )
    return int(total or 0)


async def compact_tallies(session: AsyncSession) -> None:
    """Sum each key's tally rows into one (kit.tallies)."""
    await tallies.compact(session, "case_tallies", sorted(_TALLY_KEY))


async def page_cases(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    filters: BoundFilters,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[CaseRow], int | None]:
    """A page of cases as a list shows them (without `schema`, `data` and `config`); their
    contacts are in `contacts_json`. Straight from the driver (db.rows): the hottest read.

    When the filters can be counted from the tallies, each row also carries that count
    (`total_count`, one sum the database makes once for the statement), returned beside the
    rows: a full page then needs no second query, and no second round trip, for its total.
    None when the page is empty or the filters need a count of the cases."""
    statement, carries_total = _page_statement(filters.spec, filters.shape, sort)
    rows = await fetch_rows(
        session, statement, _values(workspace_ids, filters, limit=limit, offset=offset)
    )
    if not carries_total or not rows:
        return rows, None
    return rows, int(rows[0]["total_count"])


async def contacts_of(
    session: AsyncSession, case_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[CaseContact]]:
    found: dict[uuid.UUID, list[CaseContact]] = defaultdict(list)
    if not case_ids:
        return found
    rows = await session.scalars(
        select(CaseContact)
        .where(CaseContact.case_id.in_(list(case_ids)))
        .order_by(CaseContact.case_id, *_CONTACT_ORDER)
    )
    for row in rows:
        found[row.case_id].append(row)
    return found


async def shown_contacts(
    session: AsyncSession, case_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """The contacts of each case as the API shows them: plain rows, not ORM objects (a list
    page has 300 of them; loading them as objects cost more than the rest of the page)."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    if not case_ids:
        return found
    rows = await session.execute(
        select(CaseContact.case_id, *_SHOWN_CONTACT)
        .where(CaseContact.case_id.in_(list(case_ids)))
        .order_by(CaseContact.case_id, *_CONTACT_ORDER)
    )
    for case_id, *values in rows:
        found[case_id].append(dict(zip(_SHOWN_KEYS, values, strict=True)))
    return found


async def steps_of(session: AsyncSession, case_id: uuid.UUID) -> list[CaseStep]:
    rows = await session.scalars(
        select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.position)
    )
    return list(rows)


async def step_for_update(session: AsyncSession, case_id: uuid.UUID, key: str) -> CaseStep | None:
    return await session.scalar(
        select(CaseStep).where(CaseStep.case_id == case_id, CaseStep.key == key).with_for_update()
    )


async def steps_of_form(session: AsyncSession, form_id: uuid.UUID) -> list[CaseStep]:
    return list(
        await session.scalars(select(CaseStep).where(CaseStep.form_id == form_id).with_for_update())
    )


async def reference_taken(session: AsyncSession, workspace_id: uuid.UUID, reference: str) -> bool:
    found = await session.scalar(
        select(Case.id).where(Case.workspace_id == workspace_id, Case.reference == reference)
    )
    return found is not None


async def timeline(session: AsyncSession, case_id: uuid.UUID) -> list[CaseEvent]:
    rows = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
    )
    return list(rows)


async def attachment_types(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The media type of each of `ids` that is an attachment of the workspace."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Attachment.id, Attachment.type).where(
            Attachment.workspace_id == workspace_id, Attachment.id.in_(list(ids))
        )
    )
    return {ident: kind for ident, kind in rows}


async def signature_ids(
    session: AsyncSession, workspace_id: uuid.UUID, ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `ids` are signatures of the workspace."""
    if not ids:
        return set()
    found = await session.scalars(
        select(Signature.id).where(
            Signature.workspace_id == workspace_id, Signature.id.in_(list(ids))
        )
    )
    return set(found)
