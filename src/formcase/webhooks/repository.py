"""Webhook queries. Reads by id are unscoped (the service decides 403 or 404); lists are
scoped to the caller's workspaces here."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import UnaryExpression, and_, delete, func, or_, select
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
