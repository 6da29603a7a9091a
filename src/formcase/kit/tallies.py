"""Tally tables (form_tallies, case_tallies): database triggers append a delta row per key in
the transaction of every change, so that counts sum a few rows instead of counting the
objects; `compact` sums each key's rows into one from time to time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)


async def compact(session: AsyncSession, table: str, key_columns: Sequence[str]) -> None:
    """Sum the rows of each key of `table` into one. Safe while the counted objects change
    concurrently, and in several processes at once."""
    key = ", ".join(key_columns)
    if session.get_bind().dialect.name == "postgresql":
        # One statement, one snapshot: exactly the rows deleted are the rows summed.
        await session.execute(
            text(
                f"WITH gone AS (DELETE FROM {table} RETURNING {key}, delta) "
                f"INSERT INTO {table} ({key}, delta) "
                f"SELECT {key}, sum(delta) FROM gone GROUP BY {key} HAVING sum(delta) <> 0"
            )
        )
    else:
        # SQLite has one writer at a time: rows up to the highest id seen are all committed.
        last = (await session.execute(text(f"SELECT max(id) FROM {table}"))).scalar()
        if last is None:
            return
        bound = {"last": last}
        await session.execute(
            text(
                f"INSERT INTO {table} ({key}, delta) "
                f"SELECT {key}, sum(delta) FROM {table} WHERE id <= :last "
                f"GROUP BY {key} HAVING sum(delta) <> 0"
            ),
            bound,
        )
        await session.execute(text(f"DELETE FROM {table} WHERE id <= :last"), bound)
    await session.commit()


Compaction = Callable[[AsyncSession], Awaitable[None]]


async def keep_compact(
    sessionmaker: async_sessionmaker[AsyncSession],
    interval: float,
    compactions: Sequence[Compaction],
) -> None:
    """Every `interval` seconds, run each compaction (for the life of the process). A failed
    one only delays its next run."""
    while True:
        await asyncio.sleep(interval)
        for compaction in compactions:
            try:
                async with sessionmaker() as session:
                    await compaction(session)
            except Exception:
                log.warning("tally compaction %s failed", compaction.__qualname__, exc_info=True)
