"""Attachment queries."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.attachments.models import Attachment


async def add(session: AsyncSession, attachment: Attachment) -> None:
    session.add(attachment)
    await session.flush()


async def get(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment | None:
    """Any workspace's attachment: the service decides between 403 and 200."""
    return await session.get(Attachment, attachment_id)
