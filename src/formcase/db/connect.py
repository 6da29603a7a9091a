"""Engines and sessions for SQLite (embedded default) and PostgreSQL (scale-out), without the
web framework: the CLI, the worker and the migrations use these; `db.engine` adds the app's
per-request sessions. Kept free of FastAPI so that `formcase token list` starts fast."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from formcase.config import Settings


def _dumps(content: Any) -> str:
    """For SQLAlchemy's JSON columns (which want text)."""
    return orjson.dumps(content).decode()


def make_engine(settings: Settings, *, autocommit: bool = False) -> AsyncEngine:
    """An engine; `autocommit` for reads: no BEGIN/ROLLBACK round trips around a SELECT, and
    under READ COMMITTED each statement has its own snapshot anyway."""
    url = settings.resolved_database_url
    options: dict[str, Any] = {
        "echo": settings.database_echo,
        "json_serializer": _dumps,
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
