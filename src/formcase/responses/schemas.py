"""The JSON:API document of GET /v1/responses/{id} (seeds/03-get-response.txt), key for key.

`data` is the seed's resource; every entry of `included` is a resource object too
(`type`, `id`, `attributes`): the form the response answers (`requests`, the type its
relationship names) and each attachment. Names start with `Response…` and are specific, so
they never collide with another domain's component in the OpenAPI document."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from formcase.attachments.schemas import AttachmentOut
from formcase.forms.schemas import FormOut
from formcase.kit.time import UTCTimestamp


class ResponseContact(BaseModel):
    """Who answered (`data.attributes.user`)."""

    email: str | None
    given_name: str | None
    family_name: str | None
    phone: str | None
    locale: str | None


class ResponseAttributes(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    created_at: UTCTimestamp = Field(alias="$created_at")
    updated_at: UTCTimestamp = Field(alias="$updated_at")
    completed_at: UTCTimestamp | None
    declined_at: UTCTimestamp | None
    user: ResponseContact
    data: dict[str, Any]
    rating: str | None


class ResponseFormLinkage(BaseModel):
    id: uuid.UUID
    type: Literal["requests"]


class ResponseAttachmentLinkage(BaseModel):
    id: uuid.UUID
    type: Literal["attachments"]


class ResponseFormRelationship(BaseModel):
    data: ResponseFormLinkage


class ResponseAttachmentsRelationship(BaseModel):
    data: list[ResponseAttachmentLinkage]


class ResponseRelationships(BaseModel):
    request: ResponseFormRelationship
    attachments: ResponseAttachmentsRelationship


class ResponseResource(BaseModel):
    id: uuid.UUID
    type: Literal["responses"]
    attributes: ResponseAttributes
    relationships: ResponseRelationships


class ResponseIncludedForm(BaseModel):
    """The form the response answers, as GET /v1/forms/{id} gives it, in `attributes`."""

    id: uuid.UUID
    type: Literal["requests"]
    attributes: FormOut


class ResponseIncludedAttachment(BaseModel):
    """A file of the response, as the attachments API gives it, in `attributes`."""

    id: uuid.UUID
    type: Literal["attachments"]
    attributes: AttachmentOut


ResponseIncluded = Annotated[
    ResponseIncludedForm | ResponseIncludedAttachment, Field(discriminator="type")
]


class ResponseDocumentOut(BaseModel):
    """GET /v1/responses/{id} as JSON."""

    data: ResponseResource
    included: list[ResponseIncluded]
