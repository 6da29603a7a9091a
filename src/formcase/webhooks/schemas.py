"""Request and response shapes of /v1/webhooks (formcase's own: Penbox has no such API)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic.json_schema import SkipJsonSchema

from formcase.events import kinds
from formcase.kit.listing import ListParams, PageParams, sort_param

ALL_EVENTS = "*"
EVENTS = (*kinds.ALL, ALL_EVENTS)
ALIASES = kinds.ALIASES


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookWorkspaceIn(_Body):
    id: uuid.UUID | None = None
    slug: StrictStr | None = Field(None, max_length=64)  # bounded: no lone surrogate either


# What check_events accepts: the kinds, their requests:* aliases, and *.
EventName = Annotated[StrictStr, Field(json_schema_extra={"enum": sorted({*EVENTS, *ALIASES})})]
# An https URL with a host name (guard.check_url); whether the name resolves to a public
# address only the world can say (checked on creation and before each delivery).
# FORMCASE_WEBHOOK_ALLOW_PRIVATE=true also allows http and private addresses.
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = "(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL = rf"^https://(?:{_LABEL}\.)*{_LABEL}\.?(?::{_PORT})?(?:[/?#]\S*)?$"


class WebhookCreate(_Body):
    # Documented as the service checks them (which says better what is wrong than Pydantic).
    url: StrictStr = Field(
        json_schema_extra={"minLength": 1, "maxLength": 2000, "pattern": URL},
        description="https:// URL the events are POSTed to",
    )
    events: list[EventName] = Field(
        json_schema_extra={"minItems": 1},
        description="event kinds (forms:created … responses:completed, requests:* aliases) or *",
    )
    active: StrictBool = True
    workspace: WebhookWorkspaceIn | None = Field(
        None, description="needed when the token grants several workspaces"
    )
    company: WebhookWorkspaceIn | None = Field(None, description="older name of `workspace`")


class WebhookPatch(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    url: StrictStr | SkipJsonSchema[None] = Field(
        None, json_schema_extra={"minLength": 1, "maxLength": 2000, "pattern": URL}
    )
    events: list[EventName] | SkipJsonSchema[None] = Field(None, json_schema_extra={"minItems": 1})
    active: StrictBool | SkipJsonSchema[None] = None


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
    sort: str | None = sort_param("created_at", "updated_at", "url")


class DeliveryListParams(PageParams):
    """Newest first, always: no `sort`."""

    status: Literal["pending", "delivered", "failed", "dead"] | None = None


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


class JsonWebKey(BaseModel):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str = Field(description="modulus, base64url")
    e: str = Field(description="exponent, base64url")


class JsonWebKeySet(BaseModel):
    """The public keys that sign the `x-pnbx-signature` JWT (RFC 7517)."""

    keys: list[JsonWebKey]
