"""Request and response shapes of /v1/document-intelligence (reference §10, §16.2)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

FieldType = Literal["text", "number", "date", "list"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_Body):
    """An existing attachment (`id`) or a new file (`data` in base64, with `name` and `type`)."""

    id: uuid.UUID | None = None
    data: StrictStr | None = None
    name: StrictStr | None = None
    type: StrictStr | None = None


class FieldIn(_Body):
    name: StrictStr = Field(min_length=1, max_length=200)
    type: FieldType = "text"
    key: StrictStr | None = Field(None, max_length=120, description="snake_case; made from name")
    hint: StrictStr | None = Field(None, max_length=500, description="format or meaning")


class TemplateRef(_Body):
    id: StrictStr


class DocintelWorkspaceIn(_Body):
    id: uuid.UUID


class DocintelCreate(_Body):
    attachments: list[AttachmentIn] = Field(default_factory=list)
    fields: list[FieldIn] | None = None
    template: StrictStr | TemplateRef | None = Field(
        None, description="a built-in template: invoice, id_document (or {id})"
    )
    workspace: DocintelWorkspaceIn | None = None
    company: uuid.UUID | None = Field(None, description="older name of workspace.id")
    language: StrictStr | None = Field(None, max_length=16, description="a hint: en, fr, nl, de…")


class FieldResult(BaseModel):
    key: str
    name: str
    type: FieldType
    hint: str | None = None
    value: Any = None
    confidence: Literal["high", "medium", "low"] | None = None
    score: float | None = None
    page: int | None = None
    box: list[float] | None = Field(None, description="x0, y0, x1, y1 as page fractions")
    notes: list[str] = Field(default_factory=list)


class Validation(BaseModel):
    is_valid: bool
    is_blurry: bool
    user_explanation: str | None = None


class Results(BaseModel):
    fields: list[FieldResult]
    validation: Validation
    document_type: str | None = None
    source: Literal["text_layer", "ocr", "embedded_xml"] | None = None


class DocintelAttachmentOut(BaseModel):
    id: uuid.UUID
    name: str
    type: str


class Creator(BaseModel):
    id: uuid.UUID | None
    email: str | None = None
    name: str | None = None


class Usage(BaseModel):
    input: int = 0
    output: int = 0
    total: int = 0
    pages: int


class DocintelJobOut(BaseModel):
    id: uuid.UUID
    status: Literal["pending", "processing", "completed", "failed"]
    created_at: datetime
    updated_at: datetime
    language: str | None
    template: str | None
    attachments: list[DocintelAttachmentOut]
    results: Results | None
    error: str | None = Field(None, description="why the job failed")
    creator: Creator
    usage: Usage
