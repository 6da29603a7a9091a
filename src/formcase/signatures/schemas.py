"""The API shape of a signature (GET /v1/signatures/{id}, a response's `signatures`)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from formcase.kit.time import UTCTimestamp


class Signer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str | None
    email: str | None
    ip: str | None
    user_agent: str | None = Field(alias="user-agent")


class SignatureIdRef(BaseModel):
    id: uuid.UUID


class SignedFile(BaseModel):
    id: uuid.UUID
    name: str | None
    type: str | None
    size: int | None


class SignatureOut(BaseModel):
    """Penbox's signature metadata keys, then who signed, how, and what."""

    id: uuid.UUID
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    name: str
    key: str = Field(description="the signature element's key")
    status: str
    items: int
    method: str
    merge: bool
    cost: int
    locale: str | None
    signer: Signer
    sha256: str = Field(description="of the signed file as delivered")
    documents: list[dict[str, Any]]
    response: SignatureIdRef
    image: SignatureIdRef = Field(description="the drawn signature (PNG attachment)")
    signed_file: SignedFile
