"""The worker's side of webhooks: send one delivery, record the attempt, decide what next.
Registered as the `webhook` job kind when formcase.worker.runner imports this module.

Raising makes the worker retry the job later (with backoff); returning ends it. A delivery is
at-least-once: its `webhook-id` (the delivery's id) is the same on every try, so a receiver
can drop duplicates."""

from __future__ import annotations

import functools
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import certifi
import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from formcase import __version__
from formcase.config import Settings
from formcase.kit.time import isoformat_z, utcnow
from formcase.webhooks import guard, repository, signing
from formcase.webhooks.models import WebhookAttempt, WebhookSubscription
from formcase.webhooks.service import DEAD, DELIVERED, FAILED, JOB_KIND
from formcase.worker.registry import JobContext, RetryLater, handler

BODY_EXCERPT = 2000
MAX_RETRY_AFTER = 3600.0
DEFAULT_MAX_ATTEMPTS = 10


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (the message says how); the job is retried."""


def _max_attempts(settings: Settings) -> int:
    value = getattr(settings, "job_max_attempts", DEFAULT_MAX_ATTEMPTS)
    return int(value)


@dataclass
class Outcome:
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503's Retry-After


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare for webhooks; the backoff applies then
    return min(float(value.strip()), MAX_RETRY_AFTER)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: making one loads the CA bundle (~30 ms), which done per
    delivery held a worker to about 20 deliveries a second."""
    return ssl.create_default_context(cafile=certifi.where())


async def _send(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> Outcome:
    """POST the body and say how it went, never raising. Only the start of the answer is
    read (a receiver cannot make the worker read megabytes)."""
    try:
        await guard.check_destination(url, allow_private=settings.webhook_allow_private)
    except guard.UnsafeURL as exc:
        return Outcome(error=exc.message)
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=_tls()) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            read = b""
            async for chunk in response.aiter_bytes():
                read += chunk
                if len(read) >= BODY_EXCERPT * 4:
                    break
    except httpx.TimeoutException as exc:
        seconds = settings.webhook_timeout_seconds
        return Outcome(error=f"timed out after {seconds:g} s ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}".rstrip(": "))
    outcome = Outcome(response.status_code, read.decode("utf-8", "replace")[:BODY_EXCERPT])
    if response.is_redirect:
        location = response.headers.get("location", "")
        outcome.error = f"redirected to {location!r}: redirects are not followed"
    elif not response.is_success:
        outcome.error = f"HTTP {response.status_code}"
        if response.status_code in (429, 503):
            outcome.retry_after = _retry_after(response.headers.get("retry-after"))
    return outcome


async def _headers(
    context: JobContext, message_id: str, body: bytes, url: str, secret: str, now: int
) -> dict[str, str]:
    key_id, key = await signing.signing_key(context.sessionmaker, context.settings)
    issuer = context.settings.public_url + "/"
    return {
        "Content-Type": "application/json",
        "User-Agent": f"formcase-webhooks/{__version__}",
        **signing.penbox_headers(body, url, key_id, key, issuer, now),
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signing.standard_signature(secret, message_id, now, body),
    }


def _not_sent(subscription: WebhookSubscription | None) -> str:
    if subscription is None:
        return "not sent: the subscription was deleted"
    reason = f" ({subscription.disabled_reason})" if subscription.disabled_reason else ""
    return f"not sent: the subscription is not active{reason}"


@handler(JOB_KIND)
async def deliver(context: JobContext, payload: dict[str, Any]) -> None:
    """Send the delivery `payload["delivery_id"]` once."""
    settings = context.settings
    delivery_id = uuid.UUID(payload["delivery_id"])
    async with context.sessionmaker() as session:
        delivery = await repository.delivery(session, delivery_id)
        if delivery is None:
            return  # its subscription (and so it) was deleted
        subscription = await repository.get(session, delivery.subscription_id)
        if subscription is None or not subscription.active:
            delivery.status = FAILED
            delivery.updated_at = utcnow()
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    at=utcnow(),
                    duration_ms=0,
                    status_code=None,
                    response_body=None,
                    error=_not_sent(subscription),
                )
            )
            await session.commit()
            return
        url, body = subscription.url, delivery.body
        secret = signing.decrypt_secret(subscription.secret_encrypted, settings.resolved_secret_key)
        await session.rollback()  # no transaction held open while the receiver answers

    at = utcnow()
    headers = await _headers(context, str(delivery_id), body, url, secret, int(at.timestamp()))
    started = time.perf_counter()
    outcome = await _send(url, body, headers, settings)
    duration_ms = round((time.perf_counter() - started) * 1000)

    async with context.sessionmaker() as session:
        await _record(
            session,
            context,
            delivery_id,
            at,
            duration_ms,
            outcome.status_code,
            outcome.excerpt,
            outcome.error,
        )
    if outcome.error is not None:
        message = f"webhook {url}: {outcome.error}"
        if outcome.retry_after is not None:
            raise RetryLater(message, timedelta(seconds=outcome.retry_after))
        raise DeliveryFailed(message)


async def _record(
    session: AsyncSession,
    context: JobContext,
    delivery_id: uuid.UUID,
    at: datetime,
    duration_ms: int,
    status_code: int | None,
    excerpt: str | None,
    error: str | None,
) -> None:
    settings = context.settings
    delivery = await repository.delivery(session, delivery_id, lock=True)
    if delivery is None:
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id,
            at=at,
            duration_ms=duration_ms,
            status_code=status_code,
            response_body=excerpt,
            error=error,
        )
    )
    now = utcnow()
    delivery.attempts += 1
    delivery.updated_at = now
    subscription = await repository.get(session, delivery.subscription_id, lock=True)
    if error is None:
        delivery.status, delivery.delivered_at = DELIVERED, now
        if subscription is not None and subscription.consecutive_failures:
            subscription.consecutive_failures = 0
    elif context.attempt >= _max_attempts(settings):
        delivery.status = DEAD
        if subscription is not None:
            subscription.consecutive_failures += 1
            if (
                subscription.active
                and subscription.consecutive_failures >= settings.webhook_disable_after
            ):
                subscription.active = False
                subscription.disabled_reason = (
                    f"Disabled on {isoformat_z(now)} after {subscription.consecutive_failures} "
                    f"consecutive deliveries failed every attempt (the last: {error})."
                )
                subscription.updated_at = now
    await session.commit()
