"""Tally tables (form_tallies, case_tallies): database triggers append a delta row per key in
the transaction of every change, so that counts sum a few rows instead of counting the
objects; `compact` sums each key's rows into one from time to time."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Select,
    UnaryExpression,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ColumnClause

from formcase.kit.listing import PAGE_LIMIT, PAGE_OFFSET

log = logging.getLogger(__name__)

T = TypeVar("T")


# The caller's workspaces, bound per request: every tally table has `workspace_id`.
WORKSPACE_IDS: BindParameter[list[uuid.UUID]] = bindparam("workspace_ids", expanding=True)


@dataclass(frozen=True, eq=False)
class Tallied:
    """A table whose rows the database tallies per `key` in `tallies`: counts under filters
    on the key columns alone are sums over a few tally rows."""

    counted: FromClause
    tallies: FromClause
    key: frozenset[str]

    def restated(self, where: Iterable[ColumnElement[T]]) -> list[ColumnElement[T]] | None:
        """`where`, a filter (or a grouping) on the counted table, restated on the tallies, or
        None when it reads anything but the key columns (another column, an EXISTS, a subquery). A
        condition on the key columns alone holds for all of a key's rows or none, so summing
        the deltas of the tally rows that satisfy it counts exactly the rows that do. The
        bound parameters stay the same objects, so one set of values serves both."""
        for clause in where:
            for element in visitors.iterate(clause):
                if isinstance(element, ColumnClause) and not (
                    element.table is self.counted and element.name in self.key
                ):
                    return None

        def to_tally(element: Any, **kw: Any) -> Any:
            if isinstance(element, ColumnClause) and element.table is self.counted:
                return self.tallies.c[element.name]
            return None

        return [visitors.replacement_traverse(clause, {}, to_tally) for clause in where]

    def _sum(self, on_tallies: Sequence[ColumnElement[bool]]) -> Select[tuple[int]]:
        return select(func.coalesce(func.sum(self.tallies.c.delta), 0)).where(
            self.tallies.c.workspace_id.in_(WORKSPACE_IDS), *on_tallies
        )

    def count(self, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
        """How many rows of `WORKSPACE_IDS` match `where`: a sum over the tallies when they
        can say, else a count of the rows."""
        on_tallies = self.restated(where)
        if on_tallies is not None:
            return self._sum(on_tallies)
        return (
            select(func.count())
            .select_from(self.counted)
            .where(self.counted.c.workspace_id.in_(WORKSPACE_IDS), *where)
        )

    def count_by(
        self, where: Sequence[ColumnElement[bool]], group: ColumnElement[Any]
    ) -> Select[Any]:
        """(group value, rows) of `WORKSPACE_IDS` under `where`, a group for each value
        present: from the tallies when both the filter and the group are on the key columns,
        else by counting the rows."""
        on_tallies, by = self.restated(where), self.restated([group])
        if on_tallies is not None and by is not None:
            deltas = func.sum(self.tallies.c.delta)
            return (
                self._sum(on_tallies)
                .with_only_columns(by[0], func.coalesce(deltas, 0))
                .group_by(by[0])
                .having(deltas != 0)
            )
        return (
            select(group, func.count())
            .select_from(self.counted)
            .where(self.counted.c.workspace_id.in_(WORKSPACE_IDS), *where)
            .group_by(group)
        )

    def page(
        self,
        listed: Select[Any],
        where: Sequence[ColumnElement[bool]],
        order: Sequence[UnaryExpression[Any]],
    ) -> tuple[Select[Any], bool]:
        """The page of `listed` rows of `WORKSPACE_IDS` under `where`, in `order`, bounded by
        `PAGE_LIMIT` and `PAGE_OFFSET`; and whether each row carries the tally count as
        `total_count` (when the tallies can say: the database makes that sum once for the
        statement, so a full page needs no second query for its total)."""
        on_tallies = self.restated(where)
        if on_tallies is not None:
            listed = listed.add_columns(
                self._sum(on_tallies).scalar_subquery().label("total_count")
            )
        statement = (
            listed.where(self.counted.c.workspace_id.in_(WORKSPACE_IDS), *where)
            .order_by(*order)
            .limit(PAGE_LIMIT)
            .offset(PAGE_OFFSET)
        )
        return statement, on_tallies is not None


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
