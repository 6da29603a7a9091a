"""The Penbox shapes of a form (API name: request), key for key (seeds/01-get-form.txt)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, model_validator
from pydantic.json_schema import SkipJsonSchema

from formcase.attachments.schemas import AttachmentOut
from formcase.kit import phones
from formcase.kit.listing import ListParams, sort_param
from formcase.kit.time import InputTimestamp, UTCTimestamp
from formcase.webhooks.schemas import URL, EventName
from formcase.workspaces.schemas import EMAIL, WorkspaceRef


class FormStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    COMPLETED = "completed"
    DECLINED = "declined"
    PROCESSED = "processed"


class Links(BaseModel):
    fill: str
    app: str


class FormUser(BaseModel):
    anonymous: bool
    email: str | None
    phone: str | None
    given_name: str | None
    family_name: str | None
    locale: str | None
    internal_ref: str | None
    company_name: str | None


class Owner(BaseModel):
    id: uuid.UUID
    email: str


class Flow(BaseModel):
    slug: str
    version: int


class ResponseUser(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    anonymous: bool
    ip: str | None
    email: str | None
    phone: str | None
    locale: str | None
    given_name: str | None
    family_name: str | None
    user_agent: str | None = Field(alias="user-agent")
    accept_language: str | None = Field(alias="accept-language")


class ResponseSummary(BaseModel):
    id: uuid.UUID
    completed_at: UTCTimestamp | None
    declined_at: UTCTimestamp | None
    updated_at: UTCTimestamp
    data: dict[str, Any]
    user: ResponseUser
    attachments: list[AttachmentOut]
    signatures: dict[str, Any]
    files: dict[str, list[str]] = Field(description="element key -> attachment ids")


class Notification(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    status: str
    method: str
    at: UTCTimestamp | None
    to: str | None
    from_: str | None = Field(alias="from")
    cc: str | None
    bcc: str | None
    system: bool
    locale: str | None
    template: str | None
    variables: dict[str, Any] | None
    active: bool
    error: str | None
    message_id: str | None
    attachments: dict[str, Any] | None
    deleted_at: UTCTimestamp | None


class FormOut(BaseModel):
    id: uuid.UUID
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    status: FormStatus
    archived: bool
    archived_at: UTCTimestamp | None
    processed_at: UTCTimestamp | None
    active_from: UTCTimestamp | None
    active_until: UTCTimestamp | None
    links: Links
    user: FormUser
    owner: Owner | None
    flow: Flow
    workspace: WorkspaceRef
    data: dict[str, Any]
    external_args: dict[str, Any]
    options: dict[str, Any]
    redirect_url: str | None
    webhooks: dict[str, list[str]]
    responses: list[ResponseSummary]
    notifications: list[Notification]


# --- request bodies ---------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowIn(_Body):
    slug: StrictStr = Field(min_length=1, max_length=64)


class WorkspaceIn(_Body):
    slug: StrictStr | None = Field(None, max_length=64)  # bounded: no lone surrogate either
    id: uuid.UUID | None = None


class UserIn(_Body):
    email: StrictStr | None = Field(None, json_schema_extra=EMAIL)
    phone: StrictStr | None = Field(None, json_schema_extra=phones.JSON_SCHEMA)
    given_name: StrictStr | None = Field(None, max_length=200)
    family_name: StrictStr | None = Field(None, max_length=200)
    locale: StrictStr | None = None
    internal_ref: StrictStr | None = Field(None, max_length=200)
    company_name: StrictStr | None = Field(None, max_length=200)


class FormOwnerIn(_Body):
    email: StrictStr | None = Field(None, json_schema_extra=EMAIL)


class BrandingIn(_Body):
    slug: StrictStr | None = Field(None, max_length=64)


class FormCreate(_Body):
    flow: FlowIn
    company: WorkspaceIn | None = Field(None, description="workspace, when the token has several")
    workspace: WorkspaceIn | None = Field(None, description="same as company")
    user: UserIn | None = None
    owner: FormOwnerIn | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="prefill, by element key")
    options: dict[str, Any] = Field(default_factory=dict)
    external_args: dict[str, Any] = Field(default_factory=dict)
    redirect_url: StrictStr | None = Field(
        None,
        max_length=2048,
        description="where the contact goes when done: https (http only for localhost)",
        json_schema_extra={"pattern": URL},
    )
    draft: StrictBool = False
    active_from: InputTimestamp | None = None
    active_until: InputTimestamp | None = None
    webhooks: dict[str, Annotated[list[EventName], Field(json_schema_extra={"minItems": 1})]] = (
        Field(
            default_factory=dict,
            description="webhook URL -> the events it receives",
            json_schema_extra={"propertyNames": {"maxLength": 2000, "pattern": URL}},
        )
    )
    branding: BrandingIn | None = None


class FormPatch(_Body):
    # Something to change (an empty body is refused); the switches are true or false, never
    # null (documented so: SkipJsonSchema keeps None out of the schema).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    archived: StrictBool | SkipJsonSchema[None] = None
    draft: StrictBool | SkipJsonSchema[None] = None
    processed: StrictBool | SkipJsonSchema[None] = None
    active_until: InputTimestamp | None = Field(None, description="null: never expires")

    @model_validator(mode="after")
    def _switches_are_true_or_false(self) -> FormPatch:
        for name in ("archived", "draft", "processed"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"Field '{name}' must be true or false, not null.")
        return self


# --- query parameters ---------------------------------------------------------------------


_STATUS = "(?:" + "|".join(status.value for status in FormStatus) + ")"
# Statuses separated by commas; empty parts are ignored.
_STATUSES = f"^,*(?:{_STATUS}(?:,+{_STATUS})*)?,*$"


USER_FIELDS = (
    "email",
    "phone",
    "given_name",
    "family_name",
    "locale",
    "internal_ref",
    "company_name",
)

# What `filters.group_expression` groups by (data keys as the JSON filter documents them).
_GROUPS = (
    "^(?:status|flow\\.slug|user\\.(?:"
    + "|".join(USER_FIELDS)
    + ")|(?:data|external_args)(?:\\.[A-Za-z0-9_-]+)+)$"
)


class FormFilterParams(BaseModel):
    """The bracketed filters of GET /forms and /forms/count; `filter` (JSON) overrides them."""

    model_config = ConfigDict(extra="forbid")

    workspace_slug: str | None = Field(None, alias="workspace[slug]")
    workspace_id: uuid.UUID | None = Field(None, alias="workspace[id]")
    flow_slug: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, alias="flow[slug]", description="one or more: repeated, or comma-separated"
    )
    flow_customization: uuid.UUID | None = Field(None, alias="flow[customization]")
    owner_email: str | None = Field(None, alias="owner[email]")
    user_given_name: str | None = Field(None, alias="user[given_name]")
    user_family_name: str | None = Field(None, alias="user[family_name]")
    user_email: str | None = Field(None, alias="user[email]")
    user_phone: str | None = Field(None, alias="user[phone]")
    archived: bool | None = Field(None, description="default false")
    active: bool | None = None
    completed: bool | None = None
    processed: bool | None = None
    status: list[Annotated[str, Field(json_schema_extra={"pattern": _STATUSES})]] | None = Field(
        None, description="one or more, repeated or comma-separated"
    )
    filter: str | None = Field(
        None, min_length=1, description="JSON filter; overrides the other filters"
    )


class FormListParams(FormFilterParams, ListParams):
    sort: str | None = sort_param("created_at", "updated_at")


class FormCountParams(FormFilterParams):
    group_by: list[Annotated[str, Field(json_schema_extra={"pattern": _GROUPS})]] | None = Field(
        None, alias="group-by", description="status, flow.slug, user.<field> or data.<key>"
    )


class FormCount(BaseModel):
    count: int
    by: dict[str, dict[str, int]] | None = None
