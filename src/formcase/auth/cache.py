"""Recently seen tokens, so that authenticating a request costs no database round trip.

Used on PostgreSQL only, where a revocation reaches every server process at once: revoking
sends NOTIFY on `formcase_tokens` and each process LISTENs and empties its cache. While the
listening connection is down the cache is not used, and entries also expire after `ttl`
seconds, so a lost notification cannot keep a revoked token alive for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from formcase.auth.principal import Principal

log = logging.getLogger("formcase.auth")

CHANNEL = "formcase_tokens"


@dataclass
class CachedToken:
    principal: Principal
    last_used_at: datetime | None
    expires: float


class TokenCache:
    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self.entries: dict[str, CachedToken] = {}
        self.listening = False

    def get(self, token_hash: str) -> CachedToken | None:
        if not self.listening:
            return None
        entry = self.entries.get(token_hash)
        if entry is None or entry.expires < time.monotonic():
            return None
        return entry

    def put(self, token_hash: str, principal: Principal, last_used_at: datetime | None) -> None:
        if not self.listening:
            return
        if len(self.entries) >= self.size:
            self.entries.clear()
        self.entries[token_hash] = CachedToken(principal, last_used_at, time.monotonic() + self.ttl)

    def clear(self, *_: Any) -> None:
        self.entries.clear()

    async def listen(self, database_url: str) -> None:
        """Keep a LISTEN connection open for as long as the process runs."""
        dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
        while True:
            closed = asyncio.Event()
            connection = None
            try:
                connection = await asyncpg.connect(dsn, timeout=10)
                connection.add_termination_listener(lambda _c, event=closed: event.set())
                await connection.add_listener(CHANNEL, self.clear)
                self.clear()
                self.listening = True
                await closed.wait()
            except (OSError, asyncpg.PostgresError, TimeoutError):
                log.warning("token cache: cannot listen for revocations; retrying", exc_info=True)
            finally:
                self.listening = False
                self.clear()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(1)
