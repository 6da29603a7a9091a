"""The worker's side of attachments: stray files collected periodically (what
`formcase storage gc` does by hand), so that interrupted uploads do not fill the disk.
Registered as the `storage.gc` job kind when formcase.worker.runner imports this module."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from formcase.attachments import service
from formcase.config import Settings
from formcase.storage import make_storage
from formcase.worker.registry import JobContext, periodic

GC_JOB = "storage.gc"

log = logging.getLogger("formcase.worker")


def gc_interval(settings: Settings) -> timedelta | None:
    minutes = settings.storage_gc_interval_minutes
    return timedelta(minutes=minutes) if minutes > 0 else None


@periodic(GC_JOB, gc_interval)
async def collect(context: JobContext, payload: dict[str, Any]) -> None:
    """Remove files no attachment points to and leftovers of interrupted uploads, once older
    than the grace period (an upload in progress keeps writing to its file)."""
    settings = context.settings
    grace = timedelta(minutes=settings.storage_gc_grace_minutes)
    storage = make_storage(settings)
    try:
        async with context.sessionmaker() as session:
            sweep = await service.sweep_orphans(session, storage, grace)
    finally:
        await storage.close()
    if sweep.removed:
        log.info(
            "removed %d stray file(s) from storage: %s",
            len(sweep.removed),
            ", ".join(sweep.removed[:20]) + (" …" if len(sweep.removed) > 20 else ""),
        )
