"""Request and response shapes of /v1/document-intelligence (reference §10, §16.2)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from formcase.attachments.service import NAME_SCHEMA
from formcase.kit.openapi import given, missing

FieldType = Literal["text", "number", "date", "list"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttachmentIn(_Body):
    """An existing attachment (`id`) or a new file (`data` in base64, with `name` and `type`)."""

    # An id without data, or data with a name and a type and no id.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "not": {
                "anyOf": [
                    given("id", "data"),
                    {"allOf": [missing("id"), missing("data")]},
                    {"allOf": [missing("id"), missing("name")]},
                    {"allOf": [missing("id"), missing("type")]},
                ]
            }
        },
    )

    id: uuid.UUID | None = None
    data: StrictStr | None = Field(None, json_schema_extra={"format": "byte", "minLength": 4})
    name: StrictStr | None = Field(None, json_schema_extra=NAME_SCHEMA)
    type: StrictStr | None = Field(None, json_schema_extra={"minLength": 1})


class FieldIn(_Body):
    # With no key, one is made of the name's letters and digits: it needs one.
    name: StrictStr = Field(
        min_length=1,
        max_length=200,
        json_schema_extra={"pattern": "[A-Za-z0-9]"},
        description="with a letter or digit (a-z, 0-9) when no key is given",
    )
    type: FieldType = "text"
    key: StrictStr | None = Field(
        None,
        max_length=120,
        description="snake_case; made from name",
        json_schema_extra={"pattern": "^[a-z][a-z0-9_]*$"},
    )
    hint: StrictStr | None = Field(None, max_length=500, description="format or meaning")


TEMPLATES = ("invoice", "id_document")


class TemplateRef(_Body):
    id: StrictStr = Field(json_schema_extra={"enum": list(TEMPLATES)})


class DocintelWorkspaceIn(_Body):
    id: uuid.UUID


class DocintelCreate(_Body):
    # Exactly one of `fields` (what to find) and `template`.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "not": {
                "anyOf": [
                    given("fields", "template"),
                    {"allOf": [missing("fields"), missing("template")]},
                ]
            }
        },
    )

    attachments: list[AttachmentIn] = Field(json_schema_extra={"minItems": 1})
    fields: list[FieldIn] | None = Field(None, json_schema_extra={"minItems": 1})
    template: (
        Annotated[StrictStr, Field(json_schema_extra={"enum": list(TEMPLATES)})]
        | TemplateRef
        | None
    ) = Field(None, description="a built-in template: invoice, id_document (or {id})")
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
