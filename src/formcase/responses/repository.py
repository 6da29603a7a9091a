"""Response queries."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.models import Attachment
from formcase.responses.models import Response, ResponseEvent


async def get(session: AsyncSession, response_id: uuid.UUID) -> Response | None:
    return await session.get(Response, response_id)


async def open_for_form(session: AsyncSession, form_id: uuid.UUID) -> Response | None:
    """The response a contact is filling in (neither completed nor declined), if any."""
    return (
        await session.execute(
            select(Response)
            .where(
                Response.form_id == form_id,
                Response.completed_at.is_(None),
                Response.declined_at.is_(None),
            )
            .order_by(Response.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def for_forms(session: AsyncSession, form_ids: Collection[uuid.UUID]) -> list[Response]:
    if not form_ids:
        return []
    rows = await session.execute(
        select(Response).where(Response.form_id.in_(form_ids)).order_by(Response.created_at)
    )
    return list(rows.scalars())


async def attachments_of(
    session: AsyncSession, response_ids: Collection[uuid.UUID]
) -> list[Attachment]:
    if not response_ids:
        return []
    rows = await session.execute(
        select(Attachment)
        .where(Attachment.response_id.in_(response_ids))
        .order_by(Attachment.created_at)
    )
    return list(rows.scalars())


def add(session: AsyncSession, *rows: Response | ResponseEvent) -> None:
    session.add_all(rows)


async def events_of(session: AsyncSession, response_id: uuid.UUID) -> list[ResponseEvent]:
    """A response's audit trail, oldest first."""
    rows = await session.execute(
        select(ResponseEvent)
        .where(ResponseEvent.response_id == response_id)
        .order_by(ResponseEvent.at, ResponseEvent.id)
    )
    return list(rows.scalars())
