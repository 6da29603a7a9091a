"""Recently seen tokens, so that authenticating a request costs no database round trip.

Used on PostgreSQL only, where a revocation reaches every server process at once: revoking
sends NOTIFY on `formcase_tokens` and each process LISTENs and empties its cache. While the
listening connection is down the cache is not used, and entries also expire after `ttl`
seconds, so a lost notification cannot keep a revoked token alive for long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from formcase.auth.principal import Principal
from formcase.db.listen import listen_forever

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
        """Keep a LISTEN connection open for as long as the process runs; the cache is used
        only while it is up."""
        await listen_forever(
            database_url, CHANNEL, self.clear, on_up=self._listening, on_down=self._deaf
        )

    def _listening(self) -> None:
        self.clear()
        self.listening = True

    def _deaf(self) -> None:
        self.listening = False
        self.clear()
