"""The answers of the fill API (docs/fill-api.md): the state a page is drawn from, and what
submitting, declining and signing give back."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from formcase.forms.schemas import FormStatus
from formcase.kit.time import UTCTimestamp
from formcase.signatures.schemas import SignatureOut
from formcase.templates.schemas import StepOut


class FillFormState(BaseModel):
    id: uuid.UUID
    status: FormStatus
    redirect_url: str | None


class DocumentToSign(BaseModel):
    index: int = Field(description="1 for the element's first document")
    name: str
    url: str
    ready: bool = Field(description="false while the PDF it comes from is not uploaded yet")


class FillTemplateState(BaseModel):
    slug: str
    name: str
    locale: str
    locales: list[str]
    steps: list[StepOut]
    documents: dict[str, list[DocumentToSign]] = Field(description="by signature element key")


class UploadedFile(BaseModel):
    id: uuid.UUID
    name: str
    type: str
    size: int


class FillResponseState(BaseModel):
    id: uuid.UUID
    data: dict[str, Any]
    step: str | None
    visible_steps: list[str]
    files: dict[str, list[UploadedFile]] = Field(description="by file element key")
    signatures: dict[str, SignatureOut] = Field(description="by signature element key")
    completed_at: UTCTimestamp | None
    declined_at: UTCTimestamp | None


class FillUser(BaseModel):
    given_name: str | None
    family_name: str | None
    email: str | None
    locale: str | None


class FillState(BaseModel):
    form: FillFormState
    template: FillTemplateState
    response: FillResponseState
    user: FillUser


class Submitted(BaseModel):
    completed_at: UTCTimestamp
    redirect_url: str | None


class Declined(BaseModel):
    declined_at: UTCTimestamp
