"""What forms can be filtered, sorted and grouped by, for the kit's filter mechanism."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    SQLColumnExpression,
    and_,
    bindparam,
    not_,
    or_,
    select,
)

from formcase.forms.models import Form
from formcase.forms.schemas import USER_FIELDS, FormStatus
from formcase.kit.filters import Condition, Field, FilterSpec, Flag, Kind, json_keys
from formcase.kit.time import utcnow
from formcase.workspaces.models import Member, Workspace

# Table columns, not ORM attributes: the statements stay plain Core, which runs faster.
forms = Form.__table__.c

STATUSES = tuple(status.value for status in FormStatus)


def is_active(now: BindParameter[datetime]) -> ColumnElement[bool]:
    """Open for the contact right now: pending, not archived, inside its activity window."""
    return and_(
        forms.status == FormStatus.PENDING.value,
        forms.archived.is_(False),
        or_(forms.active_from.is_(None), forms.active_from <= now),
        or_(forms.active_until.is_(None), forms.active_until > now),
    )


def _flag(clause: ColumnElement[bool]) -> Flag:
    return Flag(lambda wanted: clause if wanted else not_(clause))


def _status_flags(status: SQLColumnExpression[str]) -> dict[str, Flag]:
    """`completed` (completed or processed) and `processed`, on any status column."""
    done = [FormStatus.COMPLETED.value, FormStatus.PROCESSED.value]
    return {
        "completed": _flag(status.in_(done)),
        "processed": _flag(status == FormStatus.PROCESSED.value),
    }


# The clause is built once (kit.filters); the time it compares with is bound per request.
_ACTIVE = is_active(bindparam("active_now"))


def _active(wanted: bool) -> ColumnElement[bool]:
    return _ACTIVE if wanted else not_(_ACTIVE)


# Aliases, so that the listing query's own joins of these tables do not absorb the subqueries.
_workspace = Workspace.__table__.alias()
_owner = Member.__table__.alias()
_workspace_slug = (
    select(_workspace.c.slug)
    .where(_workspace.c.id == forms.workspace_id)
    .correlate(Form.__table__)
    .scalar_subquery()
)
_owner_email = (
    select(_owner.c.email)
    .where(_owner.c.id == forms.owner_id)
    .correlate(Form.__table__)
    .scalar_subquery()
)

_fields: dict[str, Field | Flag] = {
    "id": Field(forms.id, Kind.UUID),
    "status": Field(forms.status, Kind.ENUM, STATUSES),
    "created_at": Field(forms.created_at, Kind.DATETIME),
    "updated_at": Field(forms.updated_at, Kind.DATETIME),
    "archived_at": Field(forms.archived_at, Kind.DATETIME),
    "processed_at": Field(forms.processed_at, Kind.DATETIME),
    "active_from": Field(forms.active_from, Kind.DATETIME),
    "active_until": Field(forms.active_until, Kind.DATETIME),
    "redirect_url": Field(forms.redirect_url),
    "archived": Field(forms.archived, Kind.BOOL),
    "active": Flag(_active, values=lambda: {"active_now": utcnow()}),
    **_status_flags(forms.status),
    "flow.slug": Field(forms.flow_slug),
    "flow.id": Field(forms.template_id, Kind.UUID),
    "flow.customization": Field(forms.template_id, Kind.UUID),
    "workspace.id": Field(forms.workspace_id, Kind.UUID),
    "workspace.slug": Field(_workspace_slug),
    "company.id": Field(forms.workspace_id, Kind.UUID),
    "company.slug": Field(_workspace_slug),
    "owner.id": Field(forms.owner_id, Kind.UUID),
    "owner.email": Field(_owner_email, case_insensitive=True),
    "user.anonymous": Field(forms.user_anonymous, Kind.BOOL),
    **{
        f"user.{name}": Field(getattr(forms, f"user_{name}"), case_insensitive=name == "email")
        for name in USER_FIELDS
    },
}

FORM_FILTERS = FilterSpec(
    fields=_fields,
    json_columns={"data": forms.data, "external_args": forms.external_args},
)

SORTABLE: dict[str, SQLColumnExpression[Any]] = {
    "created_at": forms.created_at,
    "updated_at": forms.updated_at,
}


def group_expression(name: str) -> ColumnElement[Any] | None:
    """What `group-by=<name>` groups on: status, flow.slug, user.<field>, data.<key>."""
    if name == "status":
        return forms.status
    if name == "flow.slug":
        return forms.flow_slug
    head, _, rest = name.partition(".")
    if head == "user" and rest in USER_FIELDS:
        column: ColumnElement[Any] = getattr(forms, f"user_{rest}")
        return column
    if head in ("data", "external_args") and rest:
        document = forms.data if head == "data" else forms.external_args
        element: ColumnElement[Any] = document[json_keys(name, rest)].as_string()
        return element
    return None


def archived_default(conditions: list[Condition]) -> list[Condition]:
    """Archived forms are left out unless the caller asks about archival."""
    if FORM_FILTERS.mentions(conditions, "archived", "archived_at"):
        return conditions
    return [*conditions, Condition("archived", "$eq", False)]
