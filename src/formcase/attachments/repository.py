"""Attachment queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.models import Attachment


async def add(session: AsyncSession, attachment: Attachment) -> None:
    session.add(attachment)
    await session.flush()


async def get(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment | None:
    """Any workspace's attachment: the service decides between 403 and 200."""
    return await session.get(Attachment, attachment_id)


async def get_many(
    session: AsyncSession, attachment_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Attachment]:
    rows = await session.execute(select(Attachment).where(Attachment.id.in_(attachment_ids)))
    return {attachment.id: attachment for attachment in rows.scalars()}


async def sizes_by_key(session: AsyncSession) -> dict[str, int]:
    """Every stored content the attachments point to, with its size."""
    rows = await session.execute(select(Attachment.sha256, Attachment.size).distinct())
    return {key: size for key, size in rows.all()}


async def delete(session: AsyncSession, attachment: Attachment) -> None:
    """The row only: the bytes may be shared (content-addressed); `storage gc` frees them."""
    await session.delete(attachment)
    await session.flush()
