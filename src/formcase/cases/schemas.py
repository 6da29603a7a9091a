"""The Penbox shapes of a case (seeds/04-list-cases.txt, reference §7 to §8), key for key, with
what formcase adds (step details, statuses, `is_template`)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from formcase.cases.format import KEY_PATTERN, FieldType
from formcase.kit import phones
from formcase.kit.listing import ListParams, sort_param
from formcase.kit.openapi import given, missing
from formcase.kit.time import UTCTimestamp
from formcase.workspaces.schemas import EMAIL


class CaseContactOut(BaseModel):
    id: uuid.UUID | None = Field(description="null on a template: its contacts are roles")
    key: str
    name: str | None
    email: str | None
    given_name: str | None
    family_name: str | None
    phone: str | None
    main: bool = Field(description="the case's main contact (exactly one)")


class CaseOwner(BaseModel):
    id: uuid.UUID
    email: str
    given_name: str | None
    family_name: str | None


class CaseStepOut(BaseModel):
    id: uuid.UUID | None
    key: str
    title: str
    type: str
    status: str = Field(description="available, started, completed, declined")
    data: dict[str, Any]
    form: dict[str, Any] | None = Field(description="a form step's form: id, status, links")
    notification: dict[str, Any] | None = Field(
        description="an email or SMS step's message, as form.notifications[] shows one"
    )
    started_at: UTCTimestamp | None
    completed_at: UTCTimestamp | None


class SchemaFieldOut(BaseModel):
    key: str
    type: str
    name: str
    value: Any
    options: dict[str, Any] = Field(description="the type's options (reference §16.1)")


class StatusOut(BaseModel):
    key: str
    label: str
    parent_status: str


class CaseOut(BaseModel):
    id: uuid.UUID
    title: str
    parent_status: Literal["draft", "pending", "in_progress", "closed"]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    description: str | None
    locale: str
    reference: str
    status: str
    waiting_for: Literal["none", "owner", "contact"]
    archived_at: UTCTimestamp | None
    contacts: list[CaseContactOut]
    template: str | None = Field(description="the case template's id")
    owner: CaseOwner | None
    workspace: dict[str, Any]
    is_template: bool


class CaseDetailOut(CaseOut):
    steps: list[CaseStepOut]
    schema_: list[SchemaFieldOut] = Field(alias="schema")
    statuses: list[StatusOut]


class CaseTemplateListParams(ListParams):
    sort: str | None = sort_param("created_at", "updated_at", "title")
    title: str | None = Field(None, description="case-insensitive partial match")
    owner_id: uuid.UUID | None = Field(None, alias="owner[id]")
    owner_email: str | None = Field(None, alias="owner[email]")
    workspace_id: uuid.UUID | None = Field(None, alias="workspace[id]")
    workspace_slug: str | None = Field(None, alias="workspace[slug]")
    archived: bool = False


class CaseFilterParams(BaseModel):
    """The filters of seeds/04-list-cases.txt (`filter` JSON overrides the others), which
    GET /cases and /cases/count take; unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")

    template_id: uuid.UUID | None = Field(None, alias="template[id]")
    status: str | None = None
    parent_status: Literal["draft", "pending", "in_progress", "closed"] | None = None
    archived: bool | None = Field(None, description="default false")
    waiting_for: Literal["none", "owner", "contact"] | None = None
    reference: str | None = None
    owner_id: uuid.UUID | None = Field(None, alias="owner[id]")
    owner_email: str | None = Field(None, alias="owner[email]")
    workspace_id: uuid.UUID | None = Field(None, alias="workspace[id]")
    workspace_slug: str | None = Field(None, alias="workspace[slug]")
    contact_given_name: str | None = Field(None, alias="contact[given_name]")
    contact_family_name: str | None = Field(None, alias="contact[family_name]")
    contact_email: str | None = Field(None, alias="contact[email]")
    filter: str | None = Field(
        None, min_length=1, description="advanced JSON filter; overrides the others"
    )


class CaseListParams(CaseFilterParams, ListParams):
    sort: str | None = sort_param("created_at", "updated_at", "title", "reference")


class CaseCountParams(CaseFilterParams):
    """A count has no pages and no order: `sort` and `page[…]` are refused, as unknown."""


class CaseCount(BaseModel):
    count: int


class Ref(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID


class CaseOwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(json_schema_extra=EMAIL)


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = Field(
        None,
        description="the contact's role; default (null or empty): the main one",
        json_schema_extra={"pattern": f"^(?:{KEY_PATTERN.pattern})?$"},
    )
    name: str | None = Field(None, max_length=400)
    email: str | None = Field(None, max_length=320, json_schema_extra=EMAIL)
    given_name: str | None = Field(None, max_length=200)
    family_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40, json_schema_extra=phones.JSON_SCHEMA)
    locale: str | None = Field(None, max_length=16)


class SchemaFieldIn(BaseModel):
    """Sets the value of a template field, or adds a field (then `type` and `name` are
    needed, with the type's options)."""

    model_config = ConfigDict(extra="allow")
    key: str = Field(json_schema_extra={"pattern": f"^{KEY_PATTERN.pattern}$"})
    type: str | None = Field(None, json_schema_extra={"enum": [t.value for t in FieldType]})
    name: str | None = Field(None, json_schema_extra={"minLength": 1, "maxLength": 200})
    value: Any = None


# A case comes from a template, or from scratch with a title (and its own fields, each with
# a type and a name).
_TEMPLATE_OR_TITLE: dict[str, Any] = {
    "not": {
        "allOf": [
            missing("template"),
            {
                "anyOf": [
                    missing("title"),
                    {"properties": {"schema": {"contains": {"not": given("type", "name")}}}},
                ]
            },
        ]
    }
}


class CaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_TEMPLATE_OR_TITLE)
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    locale: str | None = Field(None, max_length=16)
    reference: str | None = Field(None, min_length=1, max_length=64)
    status: str | None = None
    waiting_for: Literal["none", "owner", "contact"] | None = None
    template: Ref | None = None
    workspace: Ref | None = None
    owner: CaseOwnerIn | None = None
    contacts: list[ContactIn] = Field(default_factory=list)
    schema_: list[SchemaFieldIn] = Field(default_factory=list, alias="schema")


class CaseData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(
        description="values by schema key; null clears one",
        json_schema_extra={"minProperties": 1},
    )


class ContactUpsert(ContactIn):
    remove: StrictBool = Field(
        False, description="take this contact off the case (not the main one)"
    )


class CaseContacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: list[ContactUpsert] = Field(min_length=1)


class StepStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(default_factory=dict, description="passed to the step")


class CasePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    status: str | None = None
    waiting_for: Literal["none", "owner", "contact"] | None = None
    archived: StrictBool | None = None


class TimelineEntry(BaseModel):
    id: uuid.UUID
    at: UTCTimestamp
    actor: dict[str, Any]
    kind: str
    changes: dict[str, Any]


class Timeline(BaseModel):
    data: list[TimelineEntry]
