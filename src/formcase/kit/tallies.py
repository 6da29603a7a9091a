"""Tally tables (form_tallies, case_tallies): database triggers append a delta row per key in
the transaction of every change, so that counts sum a few rows instead of counting the
objects; `compact` sums each key's rows into one from time to time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, FromClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ColumnClause

log = logging.getLogger(__name__)


def restated(
    where: Iterable[ColumnElement[bool]],
    counted: FromClause,
    tallies: FromClause,
    key: Collection[str],
) -> list[ColumnElement[bool]] | None:
    """`where`, a filter on the `counted` table, restated on its `tallies`, or None when it
    reads anything but the tally's `key` columns of `counted` (another column, an EXISTS, a
    subquery). A condition on the key columns alone holds for all of a key's rows or none, so
    summing the deltas of the tally rows that satisfy it counts exactly the rows that do. The
    bound parameters stay the same objects, so one set of values serves both."""
    for clause in where:
        for element in visitors.iterate(clause):
            if isinstance(element, ColumnClause) and not (
                element.table is counted and element.name in key
            ):
                return None

    def to_tally(element: Any, **kw: Any) -> Any:
        if isinstance(element, ColumnClause) and element.table is counted:
            return tallies.c[element.name]
        return None

    return [visitors.replacement_traverse(clause, {}, to_tally) for clause in where]


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
