"""The gate in front of /v1: who is calling, and does their budget allow it — decided here,
before routing, for every /v1 request.

A request without a valid token is answered 401 before anything else about it is looked at
(its path, method, query or body), and counts against its IP address's budget; a request
with one counts against the token's. So an unknown path, a wrong method or a bad parameter
says 401 to a stranger, and each answer carries the rate-limit headers it earned (added by
`RateLimitHeaders`, which wraps this gate). Routes read the principal with
`auth.dependencies.require_principal`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from formcase.auth import service
from formcase.auth.principal import Principal
from formcase.auth.ratelimit import RateLimiter
from formcase.db.engine import Database
from formcase.kit.errors import APIError, Unauthorized, error_response

PRINCIPAL_KEY = "principal"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="formcase"'}


class ApiGate:
    """ASGI middleware: authenticates and counts every request under `prefix` except the
    `public` paths (the OpenAPI description)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1", public: Collection[str] = ()) -> None:
        self.app = app
        self.prefix = prefix
        self.public = frozenset(public)

    def guards(self, path: str) -> bool:
        return (path == self.prefix or path.startswith(self.prefix + "/")) and (
            path not in self.public
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.guards(_route_path(scope)):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            state[PRINCIPAL_KEY] = await _admit(scope, state)
        except APIError as refused:
            response = error_response(
                refused.status_code, refused.message, refused.details, refused.headers
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _admit(scope: Scope, state: dict[str, object]) -> Principal:
    application = scope["app"]
    database: Database = application.state.database
    limiter: RateLimiter = application.state.rate_limiter

    @asynccontextmanager
    async def session() -> AsyncIterator[AsyncSession]:
        # A read session is enough (a SELECT, at most one UPDATE of last use a minute), held
        # only while authenticating; the route opens its own after routing.
        async with database.read_slots, database.read_sessionmaker() as opened:
            yield opened

    try:
        principal = await service.authenticate(
            session, Headers(scope=scope).get("authorization"), application.state.token_cache
        )
    except Unauthorized as exc:
        client = scope.get("client")
        await limiter.hit(limiter.budgets_for_address(client[0] if client else "unknown"), state)
        exc.headers = CHALLENGE
        raise
    await limiter.hit(limiter.budgets_for_token(str(principal.token_id)), state)
    return principal


def _route_path(scope: Scope) -> str:
    """The path as the router matches it (without the prefix the app is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
