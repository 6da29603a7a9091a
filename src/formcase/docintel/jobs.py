"""The worker's side of document intelligence: the `docintel.extract` job. Registered when
formcase.worker.runner imports this module.

Reading a document (OCR above all) is CPU-bound and holds the GIL for seconds: it runs in a
pool of processes (FORMCASE_DOCINTEL_PROCESSES, started on first use and kept), so the worker's
event loop goes on delivering webhooks and mail meanwhile. A job whose process dies, or that
fails for a reason that may pass, is retried by the worker; a document that cannot be read
fails the job at once, saying why. A job left `processing` by a crashed worker is run again
when its lease runs out."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from sqlalchemy import select

from formcase.attachments import service as attachments
from formcase.attachments.models import Attachment
from formcase.config import Settings
from formcase.docintel import extract
from formcase.docintel.models import DocintelJob
from formcase.docintel.service import COMPLETED, FAILED, JOB_KIND, PROCESSING
from formcase.kit.time import utcnow
from formcase.storage import make_storage
from formcase.worker.registry import JobContext, handler

log = logging.getLogger("formcase.docintel")

_pool: ProcessPoolExecutor | None = None
# A process reads this many jobs, then is replaced: what a long run of documents leaves in
# memory (OCR buffers, fragmentation) is given back.
JOBS_PER_PROCESS = 200


def _executor(settings: Settings) -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: a fork of a process running an event loop and threads is not safe
        _pool = ProcessPoolExecutor(
            max_workers=settings.docintel_processes,
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=JOBS_PER_PROCESS,
            initializer=extract.watch_parent,
            initargs=(os.getpid(),),
        )
    return _pool


def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None


async def _fail(context: JobContext, job_id: uuid.UUID, reason: str) -> None:
    async with context.sessionmaker() as session:
        job = await session.get(DocintelJob, job_id, with_for_update=True)
        if job is not None:
            job.status, job.error, job.completed_at = FAILED, reason, utcnow()
            await session.commit()


@handler(JOB_KIND)
async def run(context: JobContext, payload: dict[str, Any]) -> None:
    settings = context.settings
    job_id = uuid.UUID(payload["job_id"])
    async with context.sessionmaker() as session:
        job = await session.get(DocintelJob, job_id, with_for_update=True)
        if job is None or job.status in (COMPLETED, FAILED):
            return
        job.status, job.started_at = PROCESSING, utcnow()
        request = extract.Request(
            template=job.template,
            fields=job.fields,
            language=job.language,
            max_pages=settings.docintel_max_pages,
            ocr_engine=settings.docintel_ocr_engine,
        )
        ids = [uuid.UUID(item["id"]) for item in job.attachments]
        types = [item["type"] for item in job.attachments]
        found = {
            row.id: row
            for row in await session.scalars(select(Attachment).where(Attachment.id.in_(ids)))
        }
        await session.commit()
    missing = [str(ident) for ident in ids if ident not in found]
    if missing:
        await _fail(context, job_id, f"Attachment {', '.join(missing)} was deleted.")
        return
    storage = make_storage(settings)
    try:
        files = [
            extract.File(await attachments.read_bytes(storage, found[ident]), media_type)
            for ident, media_type in zip(ids, types, strict=True)
        ]
    finally:
        await storage.close()

    loop = asyncio.get_running_loop()
    try:
        results = await loop.run_in_executor(_executor(settings), extract.run, files, request)
    except extract.Unreadable as exc:
        await _fail(context, job_id, exc.message)
        return
    except BrokenProcessPool:
        shutdown()  # a new pool next time
        if context.attempt >= settings.job_max_attempts:
            await _fail(context, job_id, "The process reading the document stopped.")
            return
        raise
    except Exception as exc:
        log.exception("document intelligence job %s failed", job_id)
        if context.attempt >= settings.job_max_attempts:
            await _fail(context, job_id, f"The document could not be read ({exc!r}).")
            return
        raise

    async with context.sessionmaker() as session:
        job = await session.get(DocintelJob, job_id, with_for_update=True)
        if job is None:
            return
        job.status, job.results, job.completed_at = COMPLETED, results, utcnow()
        await session.commit()
