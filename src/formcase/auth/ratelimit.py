"""Rate limits with the `limits` library: counters in memory (one process) or in Redis (shared
by every server process). 100/minute per token and 1,000/hour per client by default; a token
is its own client, a caller without a valid token is a client by IP address."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from formcase.config import Settings
from formcase.kit.errors import TooManyRequests

log = logging.getLogger("formcase.ratelimit")

STATE_KEY = "rate_limit_headers"


@dataclass(frozen=True)
class Budget:
    item: RateLimitItem
    key: str


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.storage: Storage
        if settings.redis_url:
            uri = settings.redis_url
            if not uri.startswith("async+"):
                uri = "async+" + uri
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix="formcase")
        else:
            self.storage = MemoryStorage()
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)
        self.per_token = parse(settings.rate_limit_token) if settings.rate_limit_token else None
        self.per_client = parse(settings.rate_limit_client) if settings.rate_limit_client else None

    def budgets_for_token(self, token_id: str) -> list[Budget]:
        budgets = []
        if self.per_token:
            budgets.append(Budget(self.per_token, f"token:{token_id}"))
        if self.per_client:
            budgets.append(Budget(self.per_client, f"client:token:{token_id}"))
        return budgets

    def budgets_for_address(self, address: str) -> list[Budget]:
        return [Budget(self.per_client, f"client:ip:{address}")] if self.per_client else []

    async def hit(self, budgets: list[Budget], state: MutableMapping[str, Any]) -> None:
        """Count one request against every budget; 429 when one is spent.

        The headers describe the budget with the fewest requests left. When the counter store
        is unreachable, requests pass (and the failure is logged): availability first.
        """
        if not budgets:
            return
        try:
            tightest: tuple[int, float, RateLimitItem] | None = None
            refused: tuple[float, RateLimitItem] | None = None
            for budget in budgets:
                allowed = await self.strategy.hit(budget.item, budget.key)
                stats = await self.strategy.get_window_stats(budget.item, budget.key)
                if not allowed and refused is None:
                    refused = (stats.reset_time, budget.item)
                if tightest is None or stats.remaining < tightest[0]:
                    tightest = (stats.remaining, stats.reset_time, budget.item)
        except Exception:  # the counter store is down: do not take the API down with it
            log.warning("rate-limit store unreachable; request allowed", exc_info=True)
            return
        assert tightest is not None
        remaining, reset, item = tightest
        headers = {
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        state[STATE_KEY] = headers
        if refused is not None:
            reset_at, item = refused
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise TooManyRequests(
                f"Rate limit of {item.amount} requests per {item.GRANULARITY.name} exceeded; "
                f"retry in {retry_after} s.",
                headers={**headers, "Retry-After": str(retry_after), "X-RateLimit-Remaining": "0"},
            )

    async def check_storage(self) -> bool:
        return bool(await self.storage.check())


class RateLimitHeaders:
    """ASGI middleware: puts the rate-limit headers a request earned on whatever response it
    gets, errors included (the route dependency leaves them in the request state)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get(STATE_KEY)
                if extra:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    message["headers"] = [
                        *message.get("headers", []),
                        *(
                            (name.lower().encode(), value.encode())
                            for name, value in extra.items()
                            if name.lower().encode() not in present
                        ),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
