from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.dependencies import require_principal
from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.dependencies import settings_of
from formcase.kit.listing import Paginated
from formcase.kit.query import QueryModel, QueryModelRoute
from formcase.kit.responses import JSONBytes
from formcase.webhooks import service, signing
from formcase.webhooks.schemas import (
    DeliveryListParams,
    DeliveryOut,
    JsonWebKeySet,
    RedeliverOut,
    SecretRotation,
    WebhookCreate,
    WebhookListParams,
    WebhookOut,
    WebhookPatch,
    WebhookTestOut,
)

router = APIRouter(tags=["webhooks"], route_class=QueryModelRoute)
WEBHOOK_LIST_QUERY = QueryModel(WebhookListParams)
DELIVERY_LIST_QUERY = QueryModel(DeliveryListParams)
# Outside /v1: where receivers find the key that signs `x-pnbx-signature`.
keys_router = APIRouter(tags=["webhooks"])


@router.post("/webhooks", response_model=WebhookOut, status_code=201)
async def create_webhook(
    body: WebhookCreate,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Subscribe a URL to a workspace's events. The answer holds the `secret` (whsec_…) that
    signs the Standard Webhooks headers: it is shown this once."""
    return JSONBytes(await service.create(session, principal, body, settings), status_code=201)


@router.get("/webhooks", response_model=Paginated[WebhookOut])
async def list_webhooks(
    params: Annotated[WebhookListParams, Depends(WEBHOOK_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """The subscriptions of the token's workspaces, forms' own included (`form` set)."""
    return JSONBytes(await service.list_webhooks(session, principal, params))


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(
    webhook_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    return JSONBytes(await service.get(session, principal, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: uuid.UUID,
    patch: WebhookPatch,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Change the URL or events, or turn it off and on (on again clears why it was disabled
    and its count of failures)."""
    return JSONBytes(await service.update(session, principal, webhook_id, patch, settings))


@router.post("/webhooks/{webhook_id}/secret", response_model=WebhookOut)
async def rotate_secret(
    webhook_id: uuid.UUID,
    body: SecretRotation | None = None,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Give the subscription a new signing secret, shown in this answer only (also how to
    learn a secret for a form's own webhook). The replaced secret keeps signing next to it
    for `overlap_seconds` (default 24 h; 0 ends it now)."""
    document = await service.rotate_secret(session, principal, webhook_id, body, settings)
    return JSONBytes(document)


@router.post("/webhooks/{webhook_id}/test", response_model=WebhookTestOut)
async def test_webhook(
    webhook_id: uuid.UUID,
    request: Request,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
    settings: Settings = Depends(settings_of),
) -> JSONBytes:
    """Send a signed `ping` message to the subscription's URL now, and answer how it went:
    the receiver's status, the time it took, the start of its answer, or the error."""
    sessionmaker = request.app.state.database.sessionmaker
    document = await service.send_test(session, sessionmaker, principal, webhook_id, settings)
    return JSONBytes(document)


@router.delete("/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(
    webhook_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> Response:
    await service.delete(session, principal, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Paginated[DeliveryOut])
async def list_deliveries(
    webhook_id: uuid.UUID,
    params: Annotated[DeliveryListParams, Depends(DELIVERY_LIST_QUERY)],
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """What was sent, newest first, with every attempt: when, the HTTP status, how long it
    took, the start of the answer, or the error."""
    return JSONBytes(await service.list_deliveries(session, principal, webhook_id, params))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=RedeliverOut,
    status_code=202,
)
async def redeliver(
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    principal: Principal = Depends(require_principal),
    session: AsyncSession = REQUEST_SESSION,
) -> JSONBytes:
    """Send a delivery again: the same body and `webhook-id`, from the worker."""
    document = await service.redeliver(session, principal, webhook_id, delivery_id)
    return JSONBytes(document, status_code=202)


@keys_router.get("/.well-known/jwks.json", response_model=JsonWebKeySet)
async def jwks(request: Request, settings: Settings = Depends(settings_of)) -> JSONBytes:
    """The public keys that sign the `x-pnbx-signature` JWT of webhook deliveries."""
    document = await signing.jwks(request.app.state.database.sessionmaker, settings)
    return JSONBytes(document, headers={"Cache-Control": "public, max-age=300"})
