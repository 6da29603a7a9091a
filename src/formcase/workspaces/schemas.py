from __future__ import annotations

import uuid

from pydantic import BaseModel

from formcase.kit.listing import ListParams, sort_param
from formcase.kit.time import UTCTimestamp


class WorkspaceOut(BaseModel):
    id: uuid.UUID
    created_at: UTCTimestamp
    slug: str
    name: str


class WorkspaceRef(BaseModel):
    id: uuid.UUID
    slug: str


class WorkspaceListParams(ListParams):
    sort: str | None = sort_param("created_at", "updated_at", "name", "slug")
