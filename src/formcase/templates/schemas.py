from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from formcase.kit.listing import ListParams, sort_param
from formcase.kit.time import UTCTimestamp
from formcase.workspaces.schemas import WorkspaceRef


class TemplateOut(BaseModel):
    """A form template as listed: Penbox's keys, plus version, locale and workspace."""

    id: uuid.UUID
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    slug: str
    name: str
    archived_at: UTCTimestamp | None
    enabled: bool
    version: int
    locale: str
    workspace: WorkspaceRef


class StepOut(BaseModel):
    id: str
    title: str | None
    description: str | None
    visible_if: dict[str, Any] | None = None
    elements: list[dict[str, Any]]


class TemplateListParams(ListParams):
    sort: str | None = sort_param("created_at", "updated_at", "name", "slug")
    archived: bool = Field(False, description="true: include archived templates")


class FlowListParams(BaseModel):
    """The older /flows list: a bare array; `archived=true` lists only archived templates."""

    model_config = ConfigDict(extra="forbid")
    archived: bool = False


class TemplateSelector(BaseModel):
    """Which workspace's template, when the token grants several that share a slug."""

    model_config = ConfigDict(extra="forbid")

    company: str | None = Field(None, description="workspace slug or id")
    workspace_slug: str | None = Field(None, alias="workspace[slug]")
    workspace_id: uuid.UUID | None = Field(None, alias="workspace[id]")
    locale: str | None = Field(None, description="language of labels; default: the template's")
