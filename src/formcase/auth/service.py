"""API tokens: `pnbx_` + 48 hex characters, kept only as a SHA-256, shown once, revocable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth import repository
from formcase.auth.cache import TokenCache
from formcase.auth.models import ApiToken
from formcase.auth.principal import Principal
from formcase.kit.errors import BadRequest, NotFound, Unauthorized
from formcase.kit.time import utcnow
from formcase.workspaces import service as workspaces

TOKEN_PATTERN = re.compile(r"pnbx_[0-9a-f]{48}")
# `last_used_at` is written at most this often per token: a write on every request would
# turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# Opens a session when called: authenticating asks the database only when it must.
Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "pnbx_" + secrets.token_hex(24)


async def create_token(
    session: AsyncSession, name: str, workspace_slugs: list[str]
) -> tuple[ApiToken, str]:
    if not name.strip() or len(name.strip()) > 200:
        raise BadRequest("A token needs a name of 1 to 200 characters.")
    if not workspace_slugs:
        raise BadRequest("A token must grant at least one workspace.")
    found = [await workspaces.get_by_slug(session, slug) for slug in dict.fromkeys(workspace_slugs)]
    secret = new_secret()
    token = ApiToken(name=name.strip(), token_hash=hash_token(secret), hint=secret[:9])
    await repository.add_token(session, token, found)
    await session.commit()
    return token, secret


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> ApiToken:
    token = await repository.get_token(session, token_id)
    if token is None:
        raise NotFound(f"No token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await repository.announce_revocation(session)
        await session.commit()
    return token


async def list_tokens(session: AsyncSession) -> list[tuple[ApiToken, list[str]]]:
    return await repository.list_tokens(session)


def bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer pnbx_…'.")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    secret = credentials.strip()
    if not TOKEN_PATTERN.fullmatch(secret):
        raise Unauthorized("Invalid token: a token is 'pnbx_' followed by 48 hex characters.")
    return secret


async def authenticate(
    sessions: Sessions, authorization: str | None, cache: TokenCache | None = None
) -> Principal:
    """The principal behind an Authorization header, or Unauthorized. A session is opened
    (from `sessions`) only when the database must be asked: not for a malformed header, nor
    for a cached token whose last use is recent enough."""
    secret = bearer_secret(authorization)
    digest = hash_token(secret)
    cached = cache.get(digest) if cache else None
    now = utcnow()
    if cached is not None and not _stale(cached.last_used_at, now):
        return cached.principal
    async with sessions() as session:
        if cached is None:
            found = await repository.find_live_token(session, digest)
            # The lookup is by hash, so timing reveals nothing of the secret; the explicit
            # constant-time comparison keeps it that way if the lookup ever changes.
            if found is None or not hmac.compare_digest(found[1], digest):
                raise Unauthorized("Invalid or revoked token.")
            token_id, _, last_used_at, workspace_ids = found
            principal = Principal(token_id=token_id, workspace_ids=workspace_ids)
            if cache:
                cache.put(digest, principal, last_used_at)
                cached = cache.get(digest)
        else:
            principal, last_used_at = cached.principal, cached.last_used_at
        if _stale(last_used_at, now):
            await repository.mark_used(session, principal.token_id, now)
            await session.commit()
            if cached:
                cached.last_used_at = now
    return principal


def _stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION
