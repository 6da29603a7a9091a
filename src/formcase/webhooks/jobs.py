"""The worker's side of webhooks: send one delivery, record the attempt, decide what next.
Registered as the `webhook` job kind when formcase.worker.runner imports this module.

Raising makes the worker retry the job later (with backoff); returning ends it. A delivery is
at-least-once: its `webhook-id` (the delivery's id) is the same on every try, so a receiver
can drop duplicates.

One delivery costs one read (the delivery with its subscription) and one transaction
recording the attempt, whose updates lock only the delivery's row: the subscription's row is
written only when its failure count changes (a lock on it per delivery, as before, queued
every delivery of a subscription behind one another, and behind them the API's inserts of
new deliveries, whose foreign key needs a share lock on the same row). The signing key is
kept for a minute per process; the HTTP connection is the worker's, kept alive."""

from __future__ import annotations

import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase import __version__
from formcase.config import Settings
from formcase.kit.time import isoformat_z, utcnow
from formcase.webhooks import guard, repository, signing
from formcase.webhooks.service import DEAD, DELIVERED, FAILED, JOB_KIND
from formcase.worker.registry import JobContext, RetryLater, handler, http_client

BODY_EXCERPT = 2000
MAX_RETRY_AFTER = 3600.0
DEFAULT_MAX_ATTEMPTS = 10
KEY_CACHE_SECONDS = 60.0


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
    refused: bool = False  # the SSRF guard refused the address: retrying cannot help


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is rare for webhooks; the backoff applies then
    return min(float(value.strip()), MAX_RETRY_AFTER)


async def _send(
    url: str,
    body: bytes,
    headers: dict[str, str],
    settings: Settings,
    client: httpx.AsyncClient | None = None,
) -> Outcome:
    """POST the body and say how it went, never raising. Only the start of the answer is
    read (a receiver cannot make the worker read megabytes)."""
    try:
        await guard.check_destination(url, allow_private=settings.webhook_allow_private)
    except guard.Unresolved as exc:  # DNS may answer next time
        return Outcome(error=exc.message)
    except guard.UnsafeURL as exc:
        return Outcome(error=f"refused: {exc.message}", refused=True)
    if client is None:  # outside a worker: a client for this call
        async with http_client() as own:
            return await _send(url, body, headers, settings, own)
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    try:
        async with client.stream(
            "POST", url, content=body, headers=headers, timeout=timeout
        ) as response:
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


# sessionmaker (one per database) -> (when read, key id, key): the signing key is read once
# a minute, not once per delivery
_keys: weakref.WeakKeyDictionary[
    async_sessionmaker[AsyncSession], tuple[float, str, rsa.RSAPrivateKey]
] = weakref.WeakKeyDictionary()


async def _signing_key(context: JobContext) -> tuple[str, rsa.RSAPrivateKey]:
    cached = _keys.get(context.sessionmaker)
    if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        return cached[1], cached[2]
    key_id, key = await signing.signing_key(context.sessionmaker, context.settings)
    _keys[context.sessionmaker] = (time.monotonic(), key_id, key)
    return key_id, key


async def _headers(
    context: JobContext, message_id: str, body: bytes, url: str, secret: str, now: int
) -> dict[str, str]:
    key_id, key = await _signing_key(context)
    issuer = context.settings.public_url + "/"
    return {
        "Content-Type": "application/json",
        "User-Agent": f"formcase-webhooks/{__version__}",
        **signing.penbox_headers(body, url, key_id, key, issuer, now),
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "webhook-signature": signing.standard_signature(secret, message_id, now, body),
    }


@handler(JOB_KIND)
async def deliver(context: JobContext, payload: dict[str, Any]) -> None:
    """Send the delivery `payload["delivery_id"]` once."""
    settings = context.settings
    delivery_id = uuid.UUID(payload["delivery_id"])
    async with context.sessionmaker() as session:
        found = await repository.to_send(session, delivery_id)
        if found is None:
            return  # its subscription (and so it) was deleted
        if not found.active:
            await _not_sent(session, delivery_id, found.disabled_reason)
            return
        body, url = found.body, found.url
        secret = signing.decrypt_secret(found.secret_encrypted, settings.resolved_secret_key)
        await session.rollback()  # no transaction held open while the receiver answers

    at = utcnow()
    headers = await _headers(context, str(delivery_id), body, url, secret, int(at.timestamp()))
    started = time.perf_counter()
    outcome = await _send(url, body, headers, settings, context.http)
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
            final=outcome.refused,
        )
    if outcome.error is not None and not outcome.refused:
        message = f"webhook {url}: {outcome.error}"
        if outcome.retry_after is not None:
            raise RetryLater(message, timedelta(seconds=outcome.retry_after))
        raise DeliveryFailed(message)


async def _not_sent(
    session: AsyncSession, delivery_id: uuid.UUID, disabled_reason: str | None
) -> None:
    """The subscription is not active: the delivery fails at once, saying why."""
    reason = f" ({disabled_reason})" if disabled_reason else ""
    now = utcnow()
    await repository.update_delivery(session, delivery_id, {"status": FAILED, "updated_at": now})
    await repository.add_attempt(
        session,
        delivery_id,
        at=now,
        duration_ms=0,
        status_code=None,
        response_body=None,
        error=f"not sent: the subscription is not active{reason}",
    )
    await session.commit()


async def _record(
    session: AsyncSession,
    context: JobContext,
    delivery_id: uuid.UUID,
    at: datetime,
    duration_ms: int,
    status_code: int | None,
    excerpt: str | None,
    error: str | None,
    *,
    final: bool = False,
) -> None:
    """The attempt and what it changes, in one transaction (`final`: a failure that ends the
    delivery at once as `failed`, counted as a dead one). Each write is one update with no
    read first: the delivery's row is locked from its update to the commit, the
    subscription's only when its failure count changes."""
    settings = context.settings
    now = utcnow()
    dead = error is not None and (final or context.attempt >= _max_attempts(settings))
    values: dict[str, Any] = {"updated_at": now}
    if error is None:
        values |= {"status": DELIVERED, "delivered_at": now}
    elif dead:
        values["status"] = FAILED if final else DEAD
    subscription_id = await repository.update_delivery(
        session, delivery_id, values, count_attempt=True
    )
    if subscription_id is None:
        return  # deleted meanwhile, with its subscription
    await repository.add_attempt(
        session,
        delivery_id,
        at=at,
        duration_ms=duration_ms,
        status_code=status_code,
        response_body=excerpt,
        error=error,
    )
    if error is None:  # a success ends a run of failures
        await repository.reset_failures(session, subscription_id)
    elif dead:
        failures, active = await repository.count_failure(session, subscription_id)
        if active and failures >= settings.webhook_disable_after:
            reason = (
                f"Disabled on {isoformat_z(now)} after {failures} consecutive deliveries "
                f"failed every attempt (the last: {error})."
            )
            await repository.disable(session, subscription_id, reason, now)
    await session.commit()
