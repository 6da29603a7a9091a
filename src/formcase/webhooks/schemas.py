"""Request and response shapes of /v1/webhooks (formcase's own: Penbox has no such API)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from formcase.events import kinds
from formcase.kit.listing import ListParams

ALL_EVENTS = "*"
EVENTS = (*kinds.ALL, ALL_EVENTS)
ALIASES = kinds.ALIASES


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceRef(_Body):
    id: uuid.UUID | None = None
    slug: StrictStr | None = None


class WebhookCreate(_Body):
    url: StrictStr = Field(description="https:// URL the events are POSTed to")
    events: list[StrictStr] = Field(
        description="event kinds (forms:created … responses:completed, requests:* aliases) or *"
    )
    active: StrictBool = True
    workspace: WorkspaceRef | None = Field(
        None, description="needed when the token grants several workspaces"
    )
    company: WorkspaceRef | None = Field(None, description="older name of `workspace`")


class WebhookPatch(_Body):
    url: StrictStr | None = None
    events: list[StrictStr] | None = None
    active: StrictBool | None = None


class IdRef(BaseModel):
    id: uuid.UUID


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    workspace: IdRef
    form: IdRef | None = Field(description="set for a form's own webhook (its `webhooks` map)")
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = Field(
        None,
        description="after a rotation: until when the replaced secret still signs, next to "
        "the new one (`webhook-signature` then holds both)",
    )
    secret: str | None = Field(
        None,
        description="whsec_…: the Standard Webhooks key, shown only in the answers of "
        "POST /v1/webhooks and POST /v1/webhooks/{id}/secret",
    )


class SecretRotation(_Body):
    overlap_seconds: int | None = Field(
        None,
        ge=0,
        le=30 * 86400,
        description="how long the replaced secret keeps signing next to the new one; "
        "default: the server's FORMCASE_WEBHOOK_SECRET_OVERLAP_SECONDS (24 h); 0: it ends now",
    )


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    duration_ms: int
    response_body: str | None = Field(description="the first 2,000 characters")
    error: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="also the `webhook-id` header, the same on every retry")
    subscription_id: uuid.UUID
    batch_id: uuid.UUID
    events: list[str]
    status: str = Field(description="pending, delivered, failed (not sent) or dead")
    attempt_count: int
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut] = Field(description="newest first")


class WebhookListParams(ListParams):
    pass


class DeliveryListParams(ListParams):
    status: str | None = Field(None, description="pending, delivered, failed or dead")


class WebhookTestOut(BaseModel):
    id: str = Field(description="the test message's `webhook-id`")
    events: list[Literal["ping"]]
    status: Literal["delivered", "failed"] = Field(
        description="delivered: the receiver answered 2xx in time"
    )
    attempt: AttemptOut


class RedeliverOut(BaseModel):
    delivery_id: uuid.UUID
    status: str
