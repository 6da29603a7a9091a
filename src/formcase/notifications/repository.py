"""Every query on notifications."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import Uuid, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.db.rows import Row, fetch_rows
from formcase.notifications.models import Notification

_notifications = Notification.__table__
_BY_ID = select(_notifications).where(_notifications.c.id == bindparam("notification_id"))

# The notifications of a page of forms, by statements built once (building one, and running
# it through the ORM, cost more than the query on a page of 100 forms). On PostgreSQL the ids
# go as one array (`= ANY`), not as 100 parameters that SQLAlchemy writes out every time.
_FORM_ORDER = (_notifications.c.form_id, _notifications.c.created_at, _notifications.c.method)
_OF_FORMS = (
    select(_notifications)
    .where(_notifications.c.form_id.in_(bindparam("form_ids", expanding=True)))
    .order_by(*_FORM_ORDER)
)
_OF_FORMS_ARRAY = (
    select(_notifications)
    .where(_notifications.c.form_id == any_(bindparam("form_ids", type_=ARRAY(Uuid()))))
    .order_by(*_FORM_ORDER)
)


async def get(session: AsyncSession, notification_id: uuid.UUID) -> Row | None:
    found = await fetch_rows(session, _BY_ID, {"notification_id": notification_id})
    return found[0] if found else None


async def of_forms(
    session: AsyncSession, form_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[Row]]:
    """Each form's notifications, oldest first (one query for all)."""
    found: dict[uuid.UUID, list[Row]] = defaultdict(list)
    if not form_ids:
        return found
    postgresql = session.get_bind().dialect.name == "postgresql"
    statement = _OF_FORMS_ARRAY if postgresql else _OF_FORMS
    for row in await fetch_rows(session, statement, {"form_ids": list(form_ids)}):
        found[row["form_id"]].append(row)
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
