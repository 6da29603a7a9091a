"""The app's database: its two pools and one session per request (`db.connect` makes the
engines)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from formcase.config import Settings
from formcase.db.connect import make_engine, make_sessionmaker


class Database:
    """The two pools of a server process: transactions for writes, autocommit for reads.

    A request takes one of its pool's slots (`database_pool_size` of them) before it opens a
    session, and the slots go in the order requests asked for them. The pool's own wait does
    not keep that order: a request arriving as a connection comes back takes it before the
    one woken for it, which waits again at the back. Under load some requests then waited
    over a second while the median was 10 ms (docs/benchmarks.md)."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)
        self.read_engine = make_engine(settings, autocommit=True)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.read_sessionmaker = make_sessionmaker(self.read_engine)
        self.is_postgresql = self.engine.dialect.name == "postgresql"
        self.slots = asyncio.Semaphore(settings.database_pool_size)
        self.read_slots = asyncio.Semaphore(settings.database_pool_size)

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.read_engine.dispose()


READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: autocommit for reads, a transaction otherwise (services commit
    explicitly; anything not committed rolls back). Opened when the request's slot comes."""
    database: Database = request.app.state.database
    if request.method in READ_METHODS:
        slots, sessionmaker = database.read_slots, database.read_sessionmaker
    else:
        slots, sessionmaker = database.slots, database.sessionmaker
    async with slots, sessionmaker() as session:
        yield session


# The session closes (and its slot and connection go to the next request) when the endpoint
# has made its response, not after the response has been sent: a slow client, or a large
# download, does not hold a connection while it reads.
REQUEST_SESSION: Any = Depends(get_session, scope="function")
