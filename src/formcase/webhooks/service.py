"""Webhook subscriptions (a workspace's, through /v1/webhooks; a form's, from its `webhooks`
map), the deliveries events cause, and their inspection and redelivery."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import SQLColumnExpression
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.auth.principal import Principal
from formcase.config import Settings
from formcase.events.models import Event
from formcase.kit import json_input
from formcase.kit.errors import BadRequest
from formcase.kit.listing import PageMeta, order_by
from formcase.kit.responses import api_json
from formcase.kit.time import utcnow
from formcase.webhooks import guard, repository, sending, signing
from formcase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from formcase.webhooks.schemas import (
    ALIASES,
    ALL_EVENTS,
    EVENTS,
    DeliveryListParams,
    SecretRotation,
    WebhookCreate,
    WebhookListParams,
    WebhookPatch,
)
from formcase.worker import jobs
from formcase.workspaces import service as workspaces

Document = dict[str, Any]
JOB_KIND = "webhook"
PING = "ping"  # the test event's kind (POST /v1/webhooks/{id}/test); not subscribable
PENDING, DELIVERED, FAILED, DEAD = "pending", "delivered", "failed", "dead"
SORTABLE: dict[str, SQLColumnExpression[Any]] = {
    "created_at": WebhookSubscription.created_at,
    "updated_at": WebhookSubscription.updated_at,
    "url": WebhookSubscription.url,
}


def check_events(events: list[str], field: str = "events") -> list[str]:
    """Known event kinds, requests:* aliases turned into forms:*, duplicates dropped."""
    if not events:
        raise BadRequest(f"Field '{field}' must list at least one event.")
    unknown = [event for event in events if event not in EVENTS and event not in ALIASES]
    if unknown:
        raise BadRequest(
            f"Field '{field}': unknown events {', '.join(unknown)}. Events: "
            f"{', '.join(EVENTS)} (the older requests:* names are accepted too)."
        )
    return list(dict.fromkeys(ALIASES.get(event, event) for event in events))


async def check_url(url: str, settings: Settings) -> str:
    json_input.check_text(url, "url")
    await guard.check_destination(url, allow_private=settings.webhook_allow_private)
    return url


def _overlap_ends(subscription: WebhookSubscription) -> datetime | None:
    """Until when the secret a rotation replaced still signs (None: it does not)."""
    expires = subscription.previous_secret_expires_at
    return expires if expires is not None and expires > utcnow() else None


def to_document(subscription: WebhookSubscription, secret: str | None = None) -> Document:
    document: Document = {
        "id": subscription.id,
        "url": subscription.url,
        "events": subscription.events,
        "active": subscription.active,
        "workspace": {"id": subscription.workspace_id},
        "form": {"id": subscription.form_id} if subscription.form_id else None,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "disabled_reason": subscription.disabled_reason,
        "consecutive_failures": subscription.consecutive_failures,
        "previous_secret_expires_at": _overlap_ends(subscription),
    }
    if secret is not None:
        document["secret"] = secret
    return document


# --- subscriptions -----------------------------------------------------------------------


def _new(
    workspace_id: uuid.UUID,
    form_id: uuid.UUID | None,
    url: str,
    events: list[str],
    active: bool,
    settings_secret: bytes,
) -> tuple[WebhookSubscription, str]:
    secret = signing.new_secret()
    now = utcnow()
    subscription = WebhookSubscription(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        form_id=form_id,
        url=url,
        events=events,
        active=active,
        secret_encrypted=signing.encrypt_secret(secret, settings_secret),
        previous_secret_encrypted=None,
        previous_secret_expires_at=None,
        consecutive_failures=0,
        disabled_reason=None,
        created_at=now,
        updated_at=now,
    )
    return subscription, secret


async def create(
    session: AsyncSession, principal: Principal, body: WebhookCreate, settings: Settings
) -> Document:
    choice = body.workspace or body.company
    if body.workspace and body.company and body.workspace != body.company:
        raise BadRequest("'company' and 'workspace' name different workspaces; send one.")
    if choice is not None and (choice.id is not None or choice.slug is not None):
        workspace_id = (
            await workspaces.granted(session, principal, slug=choice.slug, workspace_id=choice.id)
        ).id
    elif len(principal.workspace_ids) == 1:
        workspace_id = next(iter(principal.workspace_ids))
    else:
        raise BadRequest(
            "This token grants several workspaces: name one with workspace.id or workspace.slug."
        )
    events = check_events(body.events)
    url = await check_url(body.url, settings)
    subscription, secret = _new(
        workspace_id, None, url, events, body.active, settings.resolved_secret_key
    )
    session.add(subscription)
    await session.commit()
    return to_document(subscription, secret)


def check_form_webhooks(webhooks: dict[str, list[str]], settings: Settings) -> dict[str, list[str]]:
    """A form's `webhooks` map (URL -> events), checked as a subscription is: known events
    (requests:* turned into forms:*), and the SSRF checks that need no name resolution
    (400); the resolved addresses are checked at every delivery."""
    checked: dict[str, list[str]] = {}
    for url, events in webhooks.items():
        checked[url] = check_events(events, f"webhooks.{url}")
        guard.check_literal(url, allow_private=settings.webhook_allow_private)
    return checked


async def subscribe_form(
    session: AsyncSession,
    form_id: uuid.UUID,
    workspace_id: uuid.UUID,
    webhooks: dict[str, list[str]],
    settings: Settings,
) -> None:
    """A form's own subscriptions, from its map as `check_form_webhooks` gave it back. Added
    to the session, not committed: call it before publishing the form's `forms:created` so
    that the event reaches them."""
    for url, events in webhooks.items():
        subscription, _ = _new(
            workspace_id, form_id, url, events, True, settings.resolved_secret_key
        )
        session.add(subscription)
    if webhooks:
        await session.flush()


async def _granted(
    session: AsyncSession, principal: Principal, subscription_id: uuid.UUID, *, lock: bool = False
) -> WebhookSubscription:
    subscription = await repository.get(session, subscription_id, lock=lock)
    principal.require(
        "Webhook", subscription_id, subscription.workspace_id if subscription else None
    )
    assert subscription is not None
    return subscription


async def get(session: AsyncSession, principal: Principal, subscription_id: uuid.UUID) -> Document:
    return to_document(await _granted(session, principal, subscription_id))


async def list_webhooks(
    session: AsyncSession, principal: Principal, params: WebhookListParams
) -> Document:
    order = order_by(params.sort, SORTABLE, "-created_at", WebhookSubscription.id)
    page = params.page()
    rows, total = await repository.page(
        session, principal.workspace_ids, order, page.size, page.offset
    )
    return {
        "meta": PageMeta.of(total, page).model_dump(),
        "data": [to_document(row) for row in rows],
    }


async def update(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    patch: WebhookPatch,
    settings: Settings,
) -> Document:
    given = patch.model_fields_set
    if not given:
        raise BadRequest("Nothing to update: send one or more of url, events, active.")
    subscription = await _granted(session, principal, subscription_id, lock=True)
    if "url" in given:
        if patch.url is None:
            raise BadRequest("Field 'url' cannot be null.")
        subscription.url = await check_url(patch.url, settings)
    if "events" in given:
        if patch.events is None:
            raise BadRequest("Field 'events' cannot be null.")
        subscription.events = check_events(patch.events)
    if "active" in given:
        if patch.active is None:
            raise BadRequest("Field 'active' cannot be null.")
        if patch.active and not subscription.active:
            subscription.disabled_reason = None
            subscription.consecutive_failures = 0
        subscription.active = patch.active
    subscription.updated_at = utcnow()
    await session.commit()
    return to_document(subscription)


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    body: SecretRotation | None,
    settings: Settings,
) -> Document:
    """A new Standard Webhooks secret, shown in the answer (for a form's own subscription,
    the only moment its secret is shown). The replaced one keeps signing next to it for the
    overlap (`overlap_seconds`, or the server's setting), so that the receiver can switch
    without refusing messages; 0 ends it at once (a leaked secret). An earlier secret still
    in its overlap ends now: two sign at most."""
    subscription = await _granted(session, principal, subscription_id, lock=True)
    overlap = settings.webhook_secret_overlap_seconds
    if body is not None and body.overlap_seconds is not None:
        overlap = body.overlap_seconds
    now = utcnow()
    secret = signing.new_secret()
    if overlap > 0:
        subscription.previous_secret_encrypted = subscription.secret_encrypted
        subscription.previous_secret_expires_at = now + timedelta(seconds=overlap)
    else:
        subscription.previous_secret_encrypted = None
        subscription.previous_secret_expires_at = None
    subscription.secret_encrypted = signing.encrypt_secret(secret, settings.resolved_secret_key)
    subscription.updated_at = now
    await session.commit()
    return to_document(subscription, secret)


async def send_test(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    subscription_id: uuid.UUID,
    settings: Settings,
) -> Document:
    """A `ping` message, signed as every message is, sent now to the subscription's URL
    (active or not), and how it went. Not recorded as a delivery, not retried, and not
    counted against the subscription."""
    subscription = await _granted(session, principal, subscription_id)
    url = subscription.url
    secrets = signing.secrets_of(subscription, settings.resolved_secret_key, utcnow())
    await session.rollback()  # no transaction held open while the receiver answers
    message_id = str(uuid.uuid4())
    body = api_json(
        {
            "events": [PING],
            "data": {"type": "webhooks", "id": subscription_id},
            "occurred_at": occurred_at(utcnow()),
        }
    )
    at, duration_ms, outcome = await sending.send_now(
        sessionmaker, settings, message_id, body, url, secrets
    )
    return {
        "id": message_id,
        "events": [PING],
        "status": DELIVERED if outcome.error is None else FAILED,
        "attempt": {
            "at": at,
            "status_code": outcome.status_code,
            "duration_ms": duration_ms,
            "response_body": outcome.excerpt,
            "error": outcome.error,
        },
    }


async def delete(session: AsyncSession, principal: Principal, subscription_id: uuid.UUID) -> None:
    await _granted(session, principal, subscription_id)
    await repository.remove(session, subscription_id)
    await session.commit()


# --- deliveries --------------------------------------------------------------------------


def _wants(subscription: WebhookSubscription, kind: str) -> bool:
    return ALL_EVENTS in subscription.events or kind in subscription.events


def occurred_at(at: datetime) -> str:
    """`2026-12-07T10:00:00.123Z`: to the millisecond, so that a receiver can order two
    changes made within one second."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_of(batch: list[Event]) -> bytes:
    """Penbox's payload for these events (all of one batch, in the order they were made):
    `data` names the first event's subject; `request` is the form as it was (`case`, the
    case, for case events). formcase adds `occurred_at` and `sequence` (the object's count
    of changes: a receiver drops a message whose sequence is not above the last it kept)."""
    first = batch[0]
    payload = {
        "events": [event.kind for event in batch],
        "data": {"type": first.subject_type, "id": first.subject_id},
        "case" if first.subject_type == "cases" else "request": first.payload,
        "occurred_at": occurred_at(first.created_at),
        "sequence": first.sequence,
    }
    return api_json(payload)


async def enqueue(session: AsyncSession, events: list[Event]) -> None:
    """The deliveries these events cause: one per (active subscription that wants at least one
    of them, batch), its body frozen now, and a job to send it. Does not commit."""
    if not events:
        return
    subscriptions = await repository.matching(
        session,
        {event.workspace_id for event in events},
        {event.form_id for event in events if event.form_id is not None},
    )
    if not subscriptions:
        return
    batches: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for event in events:
        batches[event.batch_id].append(event)
    now = utcnow()
    for batch_id, batch in batches.items():
        for subscription in subscriptions:
            wanted = [
                event
                for event in batch
                if event.workspace_id == subscription.workspace_id
                and (subscription.form_id is None or subscription.form_id == event.form_id)
                and _wants(subscription, event.kind)
            ]
            if not wanted:
                continue
            delivery = WebhookDelivery(
                id=uuid.uuid4(),
                subscription_id=subscription.id,
                workspace_id=subscription.workspace_id,
                batch_id=batch_id,
                events=[event.kind for event in wanted],
                body=body_of(wanted),
                status=PENDING,
                attempts=0,
                delivered_at=None,
                object_id=wanted[0].object_id,
                sequence=wanted[0].sequence,
                created_at=now,
                updated_at=now,
            )
            session.add(delivery)
            delivery.job_id = jobs.add(
                session,
                JOB_KIND,
                {"delivery_id": str(delivery.id)},
                workspace_id=subscription.workspace_id,
            ).id


def _attempt_document(attempt: WebhookAttempt) -> Document:
    return {
        "at": attempt.at,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "response_body": attempt.response_body,
        "error": attempt.error,
    }


async def list_deliveries(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    params: DeliveryListParams,
) -> Document:
    await _granted(session, principal, subscription_id)
    page = params.page()
    rows, total = await repository.deliveries(
        session, subscription_id, params.status, page.size, page.offset
    )
    attempts = await repository.attempts_of(session, [row.id for row in rows])
    return {
        "meta": PageMeta.of(total, page).model_dump(),
        "data": [
            {
                "id": row.id,
                "subscription_id": row.subscription_id,
                "batch_id": row.batch_id,
                "events": row.events,
                "status": row.status,
                "attempt_count": row.attempts,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "delivered_at": row.delivered_at,
                "attempts": [_attempt_document(attempt) for attempt in attempts[row.id]],
            }
            for row in rows
        ],
    }


async def redeliver(
    session: AsyncSession,
    principal: Principal,
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> Document:
    """Send a delivery again: the same frozen body and `webhook-id`, in a new job."""
    await _granted(session, principal, subscription_id)
    delivery = await repository.delivery(session, delivery_id, lock=True)
    if delivery is None or delivery.subscription_id != subscription_id:
        principal.require("Delivery", delivery_id, None)
    assert delivery is not None
    delivery.status = PENDING
    delivery.updated_at = utcnow()
    delivery.job_id = jobs.add(
        session, JOB_KIND, {"delivery_id": str(delivery.id)}, workspace_id=delivery.workspace_id
    ).id
    await session.commit()
    return {"delivery_id": delivery.id, "status": delivery.status}
