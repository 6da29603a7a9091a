"""Rows for the hottest reads (cases and forms lists, cases counts, a form and its
notifications), fetched through the driver itself.

SQLAlchemy builds and compiles the statement as always, with its compiled cache. On a
PostgreSQL read session (autocommit) the rows then come straight from asyncpg as records,
read by column name, skipping SQLAlchemy's execution context and result rows: on a page of
100 cases that layer cost more CPU than asyncpg's own fetch (docs/benchmarks.md). Values are
the driver's: only for columns whose SQLAlchemy result processing is a no-op on PostgreSQL
(text, numbers, booleans, UUIDs, UTC timestamps, JSON, which SQLAlchemy has asyncpg decode;
asyncpg hands out its own UUID class, which `kit.responses.api_json` prints like any other).
Anywhere else this is the session's execute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select

Row = Mapping[str, Any]


def as_dicts(result: Result[Any]) -> list[dict[str, Any]]:
    """SQLAlchemy's rows as plain dicts by column name (cheaper to read than its mappings)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


async def fetch_rows(
    session: AsyncSession, statement: Select[Any], values: Mapping[str, Any] | None = None
) -> Sequence[Row]:
    """All rows of `statement`, each readable as `row["column"]`; `values` fills its named
    bound parameters (a statement built once and kept)."""
    connection = await session.connection()
    driver = await _autocommit_driver(connection)
    if driver is None:
        # Through the session, which first flushes the changes the ORM holds (a read in a
        # transaction sees what that transaction changed); a read session has none.
        return as_dicts(await session.execute(statement, values))
    sql, args = _driver_sql(connection, statement, values)
    try:
        rows: list[asyncpg.Record] = await driver.fetch(sql, *args)
    except Exception as exc:  # whatever the driver raises, raised as SQLAlchemy would
        raise await _wrapped(connection, driver, sql, args, exc) from exc
    return rows


async def fetch_value(
    session: AsyncSession, statement: Select[Any], values: Mapping[str, Any] | None = None
) -> Any:
    """The first column of the first row of `statement` (None when there is no row)."""
    rows = await fetch_rows(session, statement, values)
    return next(iter(rows[0].values())) if rows else None


async def _autocommit_driver(connection: AsyncConnection) -> asyncpg.Connection | None:
    """The asyncpg connection under `connection` when it is an autocommit (read) connection
    to PostgreSQL. A transaction's statements stay with SQLAlchemy, which owns its BEGIN."""
    if connection.dialect.name != "postgresql":
        return None
    adapted = (await connection.get_raw_connection()).dbapi_connection
    if not getattr(adapted, "autocommit", False):
        return None
    driver: asyncpg.Connection = adapted.driver_connection  # type: ignore[union-attr]
    return driver


def _driver_sql(
    connection: AsyncConnection, statement: Select[Any], values: Mapping[str, Any] | None
) -> tuple[str, list[Any]]:
    """The statement's SQL (from SQLAlchemy's compiled cache) and its positional values, with
    expanding IN lists written out and bind processing applied, as SQLAlchemy would send
    them."""
    sync = connection.sync_connection
    assert sync is not None
    compiled, extracted, _, _ = statement._compile_w_cache(
        dialect=sync.dialect, compiled_cache=sync.engine._compiled_cache, column_keys=[]
    )
    params = compiled.construct_params(values, extracted_parameters=extracted, escape_names=False)
    expanded = compiled._process_parameters_for_postcompile(params)  # type: ignore[attr-defined]
    processors = compiled._bind_processors  # type: ignore[attr-defined]
    written = expanded.parameters
    args = [
        processors[name](written[name]) if name in processors else written[name]
        for name in expanded.positiontup
    ]
    return expanded.statement, args


async def _wrapped(
    connection: AsyncConnection,
    driver: asyncpg.Connection,
    sql: str,
    args: list[Any],
    exc: Exception,
) -> DBAPIError:
    """The driver's error as SQLAlchemy would raise it (so the API's handlers answer it the
    same way: a data exception is a 400); a broken connection leaves the pool instead of
    failing every request that draws it."""
    if driver.is_closed() or not isinstance(exc, asyncpg.PostgresError):
        await connection.invalidate(exc)
    return DBAPIError(sql, args, exc)
