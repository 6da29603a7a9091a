"""Keeps `case_tallies` small: the triggers of migration 0010 append a row per change, and
this sums each key's rows into one from time to time (as forms.service.keep_tallies_compact)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import repository

log = logging.getLogger(__name__)


async def keep_compact(sessionmaker: async_sessionmaker[AsyncSession], interval: float) -> None:
    """Every `interval` seconds, sum each tally key's rows into one (runs for the life of the
    process; concurrent runs in several processes are safe)."""
    while True:
        await asyncio.sleep(interval)
        try:
            async with sessionmaker() as session:
                await repository.compact_tallies(session)
        except Exception:  # a failed compaction only delays the next; never stop trying
            log.warning("case tally compaction failed", exc_info=True)
