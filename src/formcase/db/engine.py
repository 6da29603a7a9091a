"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import Request
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
        max_overflow=settings.database_pool_size,
        # A dead connection fails one request and is replaced; a ping on every checkout
        # would cost a round trip on every request.
        pool_pre_ping=False,
        pool_recycle=1800,
        **options,
    )


class Database:
    """The two pools of a server process: transactions for writes, autocommit for reads."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)
        self.read_engine = make_engine(settings, autocommit=True)
        self.sessionmaker = make_sessionmaker(self.engine)
        self.read_sessionmaker = make_sessionmaker(self.read_engine)
        self.is_postgresql = self.engine.dialect.name == "postgresql"

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
    explicitly; anything not committed rolls back)."""
    database: Database = request.app.state.database
    read = request.method in READ_METHODS
    async with (database.read_sessionmaker if read else database.sessionmaker)() as session:
        yield session
