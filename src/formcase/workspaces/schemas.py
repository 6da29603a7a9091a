from __future__ import annotations

import uuid
from typing import Any

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


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


# An email address as `normalise_email` takes it (email-validator, no DNS): RFC 5322's, but
# not at a special-use domain (RFC 6761: .test, .invalid, .localhost …).
EMAIL: dict[str, Any] = {
    "format": "email",
    "pattern": "^(?!.*@(?:.*\\.)?(?:"
    + "|".join(
        _any_case(name) for name in ("arpa", "invalid", "local", "localhost", "onion", "test")
    )
    + ")\\.?$)",
}
