"""What cases can be filtered and sorted by, for the kit's filter mechanism."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, exists, select

from formcase.cases.format import ParentStatus
from formcase.cases.models import Case, CaseContact
from formcase.kit.filters import Condition, Field, FilterSpec, Kind, Related
from formcase.workspaces.models import Member, Workspace

cases = Case.__table__.c
contacts = CaseContact.__table__.c

PARENT_STATUSES = tuple(status.value for status in ParentStatus)
WAITING_FOR = ("none", "owner", "contact")

_workspace = Workspace.__table__.alias()
_owner = Member.__table__.alias()
_workspace_slug = (
    select(_workspace.c.slug)
    .where(_workspace.c.id == cases.workspace_id)
    .correlate(Case.__table__)
    .scalar_subquery()
)
_owner_email = (
    select(_owner.c.email)
    .where(_owner.c.id == cases.owner_id)
    .correlate(Case.__table__)
    .scalar_subquery()
)


def _has_contact(test: ColumnElement[bool]) -> ColumnElement[bool]:
    # workspace_id repeated so that the (workspace_id, email) index serves the lookup
    return exists(
        select(contacts.case_id).where(
            contacts.case_id == cases.id, contacts.workspace_id == cases.workspace_id, test
        )
    )


_contact_fields = {
    name: Related(Field(getattr(contacts, name), case_insensitive=name == "email"), _has_contact)
    for name in ("email", "given_name", "family_name", "phone", "key", "name")
}

CASE_FILTERS = FilterSpec(
    fields={
        "id": Field(cases.id, Kind.UUID),
        "title": Field(cases.title),
        "reference": Field(cases.reference),
        "status": Field(cases.status),
        "parent_status": Field(cases.parent_status, Kind.ENUM, PARENT_STATUSES),
        "waiting_for": Field(cases.waiting_for, Kind.ENUM, WAITING_FOR),
        "locale": Field(cases.locale),
        "created_at": Field(cases.created_at, Kind.DATETIME),
        "updated_at": Field(cases.updated_at, Kind.DATETIME),
        "archived_at": Field(cases.archived_at, Kind.DATETIME),
        "archived": Field(cases.archived, Kind.BOOL),
        "template.id": Field(cases.template_id, Kind.UUID),
        "workspace.id": Field(cases.workspace_id, Kind.UUID),
        "workspace.slug": Field(_workspace_slug),
        "owner.id": Field(cases.owner_id, Kind.UUID),
        "owner.email": Field(_owner_email, case_insensitive=True),
        **{f"contact.{name}": field for name, field in _contact_fields.items()},
        **{f"contacts.{name}": field for name, field in _contact_fields.items()},
    },
    json_columns={"data": cases.data},
)

SORTABLE: dict[str, SQLColumnExpression[Any]] = {
    "created_at": cases.created_at,
    "updated_at": cases.updated_at,
    "title": cases.title,
    "reference": cases.reference,
}


def archived_default(conditions: list[Condition]) -> list[Condition]:
    """Archived cases are left out unless the caller asks about archival."""
    if CASE_FILTERS.mentions(conditions, "archived", "archived_at"):
        return conditions
    return [*conditions, Condition("archived", "$eq", False)]
