"""Token queries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.cache import CHANNEL
from formcase.auth.models import ApiToken, token_workspaces
from formcase.workspaces.models import Workspace


async def find_live_token(
    session: AsyncSession, token_hash: str
) -> tuple[uuid.UUID, str, datetime | None, frozenset[uuid.UUID]] | None:
    """(id, hash, last_used_at, workspace ids) of an unrevoked token, in one query."""
    rows = (
        await session.execute(
            select(
                ApiToken.id,
                ApiToken.token_hash,
                ApiToken.last_used_at,
                token_workspaces.c.workspace_id,
            )
            .join(token_workspaces, token_workspaces.c.token_id == ApiToken.id)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
        )
    ).all()
    if not rows:
        return None
    first = rows[0]
    return first[0], first[1], first[2], frozenset(row[3] for row in rows)


async def mark_used(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


async def announce_revocation(session: AsyncSession) -> None:
    """Tell every server process to forget the tokens it cached (delivered on commit)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(CHANNEL, "revoked")))


async def add_token(
    session: AsyncSession, token: ApiToken, workspaces: Sequence[Workspace]
) -> None:
    session.add(token)
    await session.flush()
    await session.execute(
        token_workspaces.insert(),
        [{"token_id": token.id, "workspace_id": workspace.id} for workspace in workspaces],
    )


async def list_tokens(session: AsyncSession) -> list[tuple[ApiToken, list[str]]]:
    rows = (
        await session.execute(
            select(ApiToken, Workspace.slug)
            .join(token_workspaces, token_workspaces.c.token_id == ApiToken.id)
            .join(Workspace, Workspace.id == token_workspaces.c.workspace_id)
            .order_by(ApiToken.created_at, Workspace.slug)
        )
    ).all()
    result: dict[uuid.UUID, tuple[ApiToken, list[str]]] = {}
    for token, slug in rows:
        result.setdefault(token.id, (token, []))[1].append(slug)
    return list(result.values())


async def get_token(session: AsyncSession, token_id: uuid.UUID) -> ApiToken | None:
    return await session.get(ApiToken, token_id)
