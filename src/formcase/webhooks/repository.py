"""Webhook queries. Reads by id are unscoped (the service decides 403 or 404); lists are
scoped to the caller's workspaces here."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import UnaryExpression, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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
        select(WebhookSubscription).where(scope).order_by(*order).limit(limit).offset(offset)
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


async def to_send(
    session: AsyncSession, delivery_id: uuid.UUID
) -> tuple[bytes, WebhookSubscription] | None:
    """A delivery's body and its subscription, in one query."""
    found = (
        await session.execute(
            select(WebhookDelivery.body, WebhookSubscription)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id == delivery_id)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def update_delivery(
    session: AsyncSession, delivery_id: uuid.UUID, values: dict[str, Any]
) -> uuid.UUID | None:
    """Update a delivery in one statement (no read first); its subscription's id, or None if
    it is gone."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(**values)
        .returning(WebhookDelivery.subscription_id)
    )
    return result.scalar_one_or_none()


async def add_attempt(session: AsyncSession, delivery_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        insert(WebhookAttempt).values(id=uuid.uuid4(), delivery_id=delivery_id, **values)
    )


async def reset_failures(session: AsyncSession, subscription_id: uuid.UUID) -> None:
    """consecutive_failures back to 0; no write (and no lock) if it is 0 already."""
    await session.execute(
        update(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.consecutive_failures != 0,
        )
        .values(consecutive_failures=0)
    )


async def count_failure(session: AsyncSession, subscription_id: uuid.UUID) -> tuple[int, bool]:
    """One more consecutive failure; the new count and whether the subscription is active."""
    result = await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
        .returning(WebhookSubscription.consecutive_failures, WebhookSubscription.active)
    )
    failures, active = result.one()
    return failures, active


async def disable(
    session: AsyncSession, subscription_id: uuid.UUID, reason: str, now: datetime
) -> None:
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
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
        select(WebhookDelivery)
        .where(*where)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
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
