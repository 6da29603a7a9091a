"""The dependency every /v1 route uses: who is calling, and does their budget allow it."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.auth import service
from formcase.auth.principal import Principal
from formcase.auth.ratelimit import RateLimiter
from formcase.db.engine import REQUEST_SESSION
from formcase.kit.errors import Unauthorized


async def require_principal(request: Request, session: AsyncSession = REQUEST_SESSION) -> Principal:
    limiter: RateLimiter = request.app.state.rate_limiter
    try:
        principal = await service.authenticate(
            session, request.headers.get("authorization"), request.app.state.token_cache
        )
    except Unauthorized as exc:
        address = request.client.host if request.client else "unknown"
        await limiter.hit(
            limiter.budgets_for_address(address), request.scope.setdefault("state", {})
        )
        exc.headers = {"WWW-Authenticate": 'Bearer realm="formcase"'}
        raise
    await limiter.hit(
        limiter.budgets_for_token(str(principal.token_id)), request.scope.setdefault("state", {})
    )
    return principal
