"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from formcase.config import Settings
from formcase.kit.responses import dumps


def make_engine(settings: Settings, *, autocommit: bool = False) -> AsyncEngine:
    """An engine; `autocommit` for reads: no BEGIN/ROLLBACK round trips around a SELECT, and
    under READ COMMITTED each statement has its own snapshot anyway."""
    url = settings.resolved_database_url
    options: dict[str, Any] = {
        "echo": settings.database_echo,
        "json_serializer": dumps,
        "json_deserializer": orjson.loads,
    }
    if autocommit:
        options |= {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        # Requests use at most pool_size connections (Database's slots); the overflow is for
        # the worker and the background tasks, which take no slot.
        max_overflow=settings.database_pool_size,
        # A dead connection fails one request and is replaced; a ping on every checkout
        # would cost a round trip on every request.
        pool_pre_ping=False,
        pool_recycle=1800,
        **options,
    )


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


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers run while one writer writes; busy_timeout queues writers instead of
    # failing them; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


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
