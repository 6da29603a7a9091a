"""Signature queries."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.signatures.models import Signature


async def get(session: AsyncSession, signature_id: uuid.UUID) -> Signature | None:
    """Any workspace's signature: the service decides between 403 and 200."""
    return await session.get(Signature, signature_id)


async def for_responses(
    session: AsyncSession, response_ids: Collection[uuid.UUID]
) -> list[Signature]:
    if not response_ids:
        return []
    rows = await session.execute(
        select(Signature)
        .where(Signature.response_id.in_(response_ids))
        .order_by(Signature.created_at)
    )
    return list(rows.scalars())


async def of_element(session: AsyncSession, response_id: uuid.UUID, key: str) -> Signature | None:
    rows = await session.execute(
        select(Signature).where(Signature.response_id == response_id, Signature.key == key)
    )
    return rows.scalar_one_or_none()


def add(session: AsyncSession, signature: Signature) -> None:
    session.add(signature)


async def delete(session: AsyncSession, signature: Signature) -> None:
    await session.delete(signature)
    await session.flush()
