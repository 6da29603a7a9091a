"""Every query on notifications."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.notifications.models import Notification

_notifications = Notification.__table__
# The notifications of a page of forms: plain Core rows (read by attribute like the ORM's
# objects), the statement built once (ORM execution and statement building cost more than
# the query on a page of 100 forms).
_OF_FORMS = (
    select(_notifications)
    .where(_notifications.c.form_id.in_(bindparam("form_ids", expanding=True)))
    .order_by(_notifications.c.form_id, _notifications.c.created_at, _notifications.c.method)
)


async def of_forms(
    session: AsyncSession, form_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[Row[Any]]]:
    """Each form's notifications, oldest first (one query for all)."""
    found: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
    if not form_ids:
        return found
    rows = await session.execute(_OF_FORMS, {"form_ids": list(form_ids)})
    for row in rows:
        if row.form_id is not None:
            found[row.form_id].append(row)
    return found


async def count_of_kind(session: AsyncSession, form_id: uuid.UUID, kind: str) -> int:
    """How many notifications of this kind the form has had (one per kind and occasion is
    written for each method: counted once per occasion)."""
    number = await session.scalar(
        select(func.count(func.distinct(Notification.created_at))).where(
            Notification.form_id == form_id, Notification.kind == kind
        )
    )
    return int(number or 0)


async def get_for_update(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.scalar(
        select(Notification).where(Notification.id == notification_id).with_for_update()
    )
