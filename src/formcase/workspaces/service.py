"""Workspaces and their members."""

from __future__ import annotations

import re
import uuid
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import SQLColumnExpression
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth.principal import Principal
from formcase.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from formcase.kit.listing import order_by
from formcase.workspaces import certificates, repository
from formcase.workspaces.models import Member, Workspace
from formcase.workspaces.schemas import WorkspaceListParams

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
SORTABLE: dict[str, SQLColumnExpression[Any]] = {
    "created_at": Workspace.created_at,
    "updated_at": Workspace.updated_at,
    "name": Workspace.name,
    "slug": Workspace.slug,
}


def check_slug(slug: str, what: str = "workspace") -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise BadRequest(
            f"Invalid {what} slug '{slug}': use lowercase letters, digits and hyphens "
            "(at most 64, not starting or ending with a hyphen)."
        )
    return slug


def normalise_email(email: str, field: str) -> str:
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadRequest(
            f"Field '{field}': '{email}' is not a valid email address ({exc})."
        ) from None


async def create(
    session: AsyncSession, slug: str, name: str, *, secret_key: bytes | None = None
) -> Workspace:
    """A new workspace; with the server's `secret_key`, its signing certificate too, in the
    same commit (without, it gets one the first time it signs)."""
    check_slug(slug)
    if not name.strip() or len(name.strip()) > 200:
        raise BadRequest("A workspace needs a name of 1 to 200 characters.")
    if await repository.by_slug(session, slug):
        raise Conflict(f"A workspace with slug '{slug}' already exists.")
    workspace = Workspace(id=uuid.uuid4(), slug=slug, name=name.strip())
    session.add(workspace)
    if secret_key is not None:
        session.add(certificates.generate(workspace, secret_key))
    await session.commit()
    return workspace


async def get_by_slug(session: AsyncSession, slug: str) -> Workspace:
    workspace = await repository.by_slug(session, slug)
    if workspace is None:
        raise NotFound(f"No workspace with slug '{slug}'.")
    return workspace


async def add_member(
    session: AsyncSession,
    workspace: Workspace,
    email: str,
    given_name: str | None = None,
    family_name: str | None = None,
) -> Member:
    email = normalise_email(email, "email")
    existing = await repository.member_by_email(session, workspace.id, email)
    if existing:
        return existing
    member = Member(
        workspace_id=workspace.id, email=email, given_name=given_name, family_name=family_name
    )
    session.add(member)
    await session.commit()
    return member


async def granted(
    session: AsyncSession,
    principal: Principal,
    *,
    slug: str | None = None,
    workspace_id: uuid.UUID | None = None,
) -> Workspace:
    """The workspace a caller names, if their token grants it.

    The access rule, everywhere: something that exists in a workspace the token does not grant
    answers 403; something that does not exist answers 404. A workspace named by slug or id
    that the token does not grant is 403 whether or not it exists.
    """
    workspace = (
        await repository.by_slug(session, slug)
        if slug is not None
        else await repository.by_id(session, workspace_id)
        if workspace_id is not None
        else None
    )
    if workspace is None or not principal.grants(workspace.id):
        named = slug if slug is not None else str(workspace_id)
        raise Forbidden(f"This token does not grant access to workspace '{named}'.")
    return workspace


async def list_granted(
    session: AsyncSession, principal: Principal, params: WorkspaceListParams
) -> tuple[list[Workspace], int]:
    page = params.page()
    order = order_by(params.sort, SORTABLE, "-created_at", Workspace.id)
    return await repository.page(session, principal.workspace_ids, order, page.size, page.offset)


async def all_granted(session: AsyncSession, principal: Principal) -> list[Workspace]:
    return sorted(
        await repository.by_ids(session, principal.workspace_ids), key=lambda w: w.created_at
    )
