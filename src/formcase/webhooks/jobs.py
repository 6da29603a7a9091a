"""The worker's side of webhooks: send one delivery, record the attempt, decide what next.
Registered as the `webhook` job kind when formcase.worker.runner imports this module.

Raising makes the worker retry the job later (with backoff); returning ends it. A delivery is
at-least-once: its `webhook-id` (the delivery's id) is the same on every try, so a receiver
can drop duplicates.

Deliveries of one subscription about one object go in order (docs/webhooks.md, "Order"): a
delivery whose predecessor is still to be sent waits (NotYet, the attempt not counted), and
the transaction recording a delivery's end wakes the next one's job.

One delivery costs one read (the delivery with its subscription, and whether one before it
is unfinished) and one transaction recording the attempt, whose updates lock only the
delivery's row: the subscription's row is written only when its failure count changes (a
lock on it per delivery, as before, queued every delivery of a subscription behind one
another, and behind them the API's inserts of new deliveries, whose foreign key needs a
share lock on the same row). The signing key is kept for a minute per process
(formcase.webhooks.sending); the HTTP connection is the worker's, kept alive."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.config import Settings
from formcase.kit.time import isoformat_z, utcnow
from formcase.webhooks import repository, signing
from formcase.webhooks.sending import send_now
from formcase.webhooks.service import DEAD, DELIVERED, FAILED, JOB_KIND
from formcase.worker import jobs
from formcase.worker.registry import JobContext, NotYet, RetryLater, handler

DEFAULT_MAX_ATTEMPTS = 10
# A delivery waiting for an earlier one is woken when that one ends; it also looks again
# after this long, should the wake-up be lost (the earlier one's job ended without recording).
ORDER_RECHECK_SECONDS = 60.0


class DeliveryFailed(Exception):
    """The receiver did not take the delivery (the message says how); the job is retried."""


def _max_attempts(settings: Settings) -> int:
    value = getattr(settings, "job_max_attempts", DEFAULT_MAX_ATTEMPTS)
    return int(value)


@handler(JOB_KIND)
async def deliver(context: JobContext, payload: dict[str, Any]) -> None:
    """Send the delivery `payload["delivery_id"]` once, unless an earlier delivery of its
    subscription about the same object is still to be sent: then it waits (NotYet) until
    that one ends and wakes it (or ORDER_RECHECK_SECONDS, should a wake-up be lost)."""
    settings = context.settings
    delivery_id = uuid.UUID(payload["delivery_id"])
    async with context.sessionmaker() as session:
        found = await repository.to_send(session, delivery_id)
        if found is None:
            return  # its subscription (and so it) was deleted
        if await repository.waits(session, found):
            raise NotYet(
                "an earlier delivery about the same object is not sent yet",
                timedelta(seconds=ORDER_RECHECK_SECONDS),
            )
        if not found.active:
            await _not_sent(session, delivery_id, found, found.disabled_reason)
            return
        body, url = found.body, found.url
        secrets = signing.secrets_of(found, settings.resolved_secret_key, utcnow())
        await session.rollback()  # no transaction held open while the receiver answers

    at, duration_ms, outcome = await send_now(
        context.sessionmaker, settings, str(delivery_id), body, url, secrets, context.http
    )
    async with context.sessionmaker() as session:
        await _record(
            session,
            context,
            delivery_id,
            found,
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


async def _wake_next(session: AsyncSession, found: repository.ToSend) -> None:
    """This delivery has ended (delivered, dead, not sent): the next one about the same
    object may go. One statement, in the transaction recording the end."""
    following = repository.next_job(found)
    if following is not None:
        await jobs.wake(session, following)


async def _not_sent(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    found: repository.ToSend,
    disabled_reason: str | None,
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
    await _wake_next(session, found)
    await session.commit()


async def _record(
    session: AsyncSession,
    context: JobContext,
    delivery_id: uuid.UUID,
    found: repository.ToSend,
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
    if error is None or dead:
        await _wake_next(session, found)
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
