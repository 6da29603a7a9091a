"""Webhook queries. Reads by id are unscoped (the service decides 403 or 404); lists are
scoped to the caller's workspaces here."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, UnaryExpression, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.events.models import Job
from formcase.kit.listing import paged
from formcase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


async def get(
    session: AsyncSession, subscription_id: uuid.UUID, *, lock: bool = False
) -> WebhookSubscription | None:
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def page(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    order: list[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> tuple[list[WebhookSubscription], int]:
    scope = WebhookSubscription.workspace_id.in_(workspace_ids)
    total = (
        await session.execute(select(func.count()).select_from(WebhookSubscription).where(scope))
    ).scalar_one()
    rows = await session.execute(
        paged(select(WebhookSubscription).where(scope).order_by(*order), limit, offset)
    )
    return list(rows.scalars()), total


async def remove(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    await session.execute(
        delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    )


async def matching(
    session: AsyncSession,
    workspace_ids: Collection[uuid.UUID],
    form_ids: Collection[uuid.UUID],
) -> list[WebhookSubscription]:
    """Active subscriptions that may want events of these workspaces and forms: the
    workspace-wide ones of the workspaces, and the forms' own."""
    workspace_wide = and_(
        WebhookSubscription.workspace_id.in_(workspace_ids),
        WebhookSubscription.form_id.is_(None),
    )
    conditions = [workspace_wide]
    if form_ids:
        conditions.append(WebhookSubscription.form_id.in_(form_ids))
    rows = await session.execute(
        select(WebhookSubscription).where(WebhookSubscription.active.is_(True), or_(*conditions))
    )
    return list(rows.scalars())


async def delivery(
    session: AsyncSession, delivery_id: uuid.UUID, *, lock: bool = False
) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


# The worker's statements, one per delivery or more: on the tables, not the ORM entities
# (the same SQL; a third less CPU each in SQLAlchemy).
_deliveries = cast(Table, WebhookDelivery.__table__)
_subscriptions = cast(Table, WebhookSubscription.__table__)
_attempts = cast(Table, WebhookAttempt.__table__)
_jobs = cast(Table, Job.__table__)


class ToSend(NamedTuple):
    """What sending a delivery needs: its body and place in its object's order, and of its
    subscription the rest."""

    body: bytes
    object_id: uuid.UUID | None
    sequence: int | None
    subscription_id: uuid.UUID
    url: str
    active: bool
    disabled_reason: str | None
    secret_encrypted: bytes
    previous_secret_encrypted: bytes | None
    previous_secret_expires_at: datetime | None
    behind: bool  # an earlier delivery about the same object was unfinished (see `waits`)


def _still_to_send(deliveries: Any) -> Any:
    """Of these deliveries, those still to be sent: pending, with a job that will send them
    (not one that ended without recording why, nor a test's)."""
    return and_(
        deliveries.c.status == "pending",
        select(_jobs.c.id)
        .where(_jobs.c.id == deliveries.c.job_id, _jobs.c.status.in_(("pending", "running")))
        .exists(),
    )


_earlier = _deliveries.alias("earlier")
# An earlier delivery of the same subscription about the same object is still to be sent
# (never for a delivery from before migration 0013: NULLs compare as nothing).
_BEHIND = (
    select(_earlier.c.id)
    .where(
        _earlier.c.subscription_id == _deliveries.c.subscription_id,
        _earlier.c.object_id == _deliveries.c.object_id,
        _earlier.c.sequence < _deliveries.c.sequence,
        _still_to_send(_earlier),
    )
    .exists()
    .label("behind")
)


async def to_send(session: AsyncSession, delivery_id: uuid.UUID) -> ToSend | None:
    """A delivery and its subscription, and whether one before it is unfinished, in one
    query."""
    result = await session.execute(
        select(
            _deliveries.c.body,
            _deliveries.c.object_id,
            _deliveries.c.sequence,
            _deliveries.c.subscription_id,
            _subscriptions.c.url,
            _subscriptions.c.active,
            _subscriptions.c.disabled_reason,
            _subscriptions.c.secret_encrypted,
            _subscriptions.c.previous_secret_encrypted,
            _subscriptions.c.previous_secret_expires_at,
            _BEHIND,
        )
        .join(_subscriptions, _subscriptions.c.id == _deliveries.c.subscription_id)
        .where(_deliveries.c.id == delivery_id)
    )
    row = result.one_or_none()
    return None if row is None else ToSend(**row._mapping)


async def waits(session: AsyncSession, found: ToSend) -> bool:
    """Whether an earlier delivery of this subscription about this object is unfinished.

    `found.behind` said so without locks; it is asked again FOR SHARE (PostgreSQL), so that
    a delivery whose end is being recorded right now is waited for and then seen as ended:
    the wake-up its recording sends is never missed. (`behind` false needs no second look:
    an ended delivery is not pending again but by a hand-made redelivery.)"""
    if not found.behind or found.object_id is None or found.sequence is None:
        return False
    query = (
        select(_deliveries.c.id)
        .where(
            _deliveries.c.subscription_id == found.subscription_id,
            _deliveries.c.object_id == found.object_id,
            _deliveries.c.sequence < found.sequence,
            _still_to_send(_deliveries),
        )
        .limit(1)
        .with_for_update(read=True, of=_deliveries)
    )
    return (await session.execute(query)).first() is not None


def next_job(found: ToSend) -> Any:
    """The job of the delivery that comes next after this one, as a scalar subquery (to
    wake when this one ends); None for a delivery without a place in an order."""
    if found.object_id is None or found.sequence is None:
        return None
    return (
        select(_deliveries.c.job_id)
        .where(
            _deliveries.c.subscription_id == found.subscription_id,
            _deliveries.c.object_id == found.object_id,
            _deliveries.c.sequence > found.sequence,
            _still_to_send(_deliveries),
        )
        .order_by(_deliveries.c.sequence)
        .limit(1)
        .scalar_subquery()
    )


async def update_delivery(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    values: dict[str, Any],
    *,
    count_attempt: bool = False,
) -> uuid.UUID | None:
    """Update a delivery in one statement (no read first), adding one to its attempts if
    `count_attempt`; its subscription's id, or None if it is gone."""
    if count_attempt:
        values = {**values, "attempts": _deliveries.c.attempts + 1}
    result = await session.execute(
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id)
        .values(**values)
        .returning(_deliveries.c.subscription_id)
    )
    subscription_id: uuid.UUID | None = result.scalar_one_or_none()
    return subscription_id


async def add_attempt(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        insert(_attempts).values(id=uuid.uuid4(), delivery_id=delivery_id, **values)
    )


async def reset_failures(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    """consecutive_failures back to 0; no write (and no lock) if it is 0 already."""
    await session.execute(
        update(_subscriptions)
        .where(_subscriptions.c.id == subscription_id, _subscriptions.c.consecutive_failures != 0)
        .values(consecutive_failures=0)
    )


async def count_failure(session: AsyncSession, subscription_id: uuid.UUID) -> tuple[int, bool]:
    """One more consecutive failure; the new count and whether the subscription is active."""
    result = await session.execute(
        update(_subscriptions)
        .where(_subscriptions.c.id == subscription_id)
        .values(consecutive_failures=_subscriptions.c.consecutive_failures + 1)
        .returning(_subscriptions.c.consecutive_failures, _subscriptions.c.active)
    )
    failures, active = result.one()
    return failures, active


async def disable(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> None:
    await session.execute(
        update(_subscriptions)
        .where(_subscriptions.c.id == subscription_id)
        .values(active=False, disabled_reason=reason, updated_at=now)
    )


async def deliveries(
    session: AsyncSession,
    subscription_id: uuid.UUID,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookDelivery], int]:
    where = [WebhookDelivery.subscription_id == subscription_id]
    if status is not None:
        where.append(WebhookDelivery.status == status)
    total = (
        await session.execute(select(func.count()).select_from(WebhookDelivery).where(*where))
    ).scalar_one()
    rows = await session.execute(
        paged(
            select(WebhookDelivery)
            .where(*where)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()),
            limit,
            offset,
        )
    )
    return list(rows.scalars()), total


async def attempts_of(
    session: AsyncSession, delivery_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    """The attempts of these deliveries, newest first."""
    found: dict[uuid.UUID, list[WebhookAttempt]] = {ident: [] for ident in delivery_ids}
    if not delivery_ids:
        return found
    rows = await session.execute(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id)
    )
    for attempt in rows.scalars():
        found[attempt.delivery_id].append(attempt)
    return found
