from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from formcase.kit.time import UTCTimestamp


class Scope(StrEnum):
    PUBLIC = "public"
    RESTRICTED = "restricted"


class AttachmentMetadata(BaseModel):
    size: int
    width: int | None
    height: int | None
    sha256: str
    declared_type: str | None = Field(
        description="the type the uploader declared, when it differs from the detected one"
    )


class AttachmentOut(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    scope: Scope
    metadata: AttachmentMetadata
    uri: str
    created_at: UTCTimestamp


class AttachmentWithData(AttachmentOut):
    data: str = Field(description="the content, base64")


class AttachmentUpload(BaseModel):
    """The JSON form of an upload (multipart/form-data with a `file` part is the other)."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr
    data: StrictStr = Field(description="the content, base64 (a data: URL prefix is accepted)")
    type: StrictStr | None = None
    scope: Scope = Scope.RESTRICTED
