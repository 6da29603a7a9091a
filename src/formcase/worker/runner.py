"""The worker: claims due jobs, runs them concurrently, records how each attempt ended.

`formcase worker` runs one until SIGTERM; `formcase serve` runs one in-process unless
`--no-worker`. On PostgreSQL an idle worker wakes on NOTIFY `formcase_jobs` (sent when a
transaction that added jobs commits) and otherwise polls every `worker_poll_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.db.listen import listen_forever
from formcase.events.models import Job
from formcase.worker import jobs
from formcase.worker.registry import HANDLERS, GiveUp, Handler, JobContext, RetryLater, handler

# isort: split
# handler modules: imported here so that they register
from formcase.notifications import jobs as notification_jobs  # noqa: F401
from formcase.webhooks import jobs as webhook_jobs  # noqa: F401

if os.environ.get("FORMCASE_TEST_HANDLERS") == "1":  # test-only job kinds (tests/worker)
    from formcase.worker import testing  # noqa: F401

__all__ = ["HANDLERS", "GiveUp", "Handler", "JobContext", "RetryLater", "Worker", "handler"]

log = logging.getLogger("formcase.worker")


class Worker:
    """Runs jobs until stopped (`stop()`, graceful) or cancelled (jobs in hand are handed
    back at once)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        concurrency: int | None = None,
        handlers: Mapping[str, Handler] | None = None,
        listen_url: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.handlers = HANDLERS if handlers is None else handlers
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        # LISTEN for new jobs on PostgreSQL (None: poll only)
        url = listen_url if listen_url is not None else settings.resolved_database_url
        self.listen_url = url if url.startswith("postgresql") else None
        self.running: dict[asyncio.Task[None], Job] = {}
        self._wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Finish the jobs in hand, claim no more, then return from `run()`."""
        self._stopping = True
        self._wake.set()

    async def run(self, shutdown_grace: float = 10.0) -> None:
        helpers = [
            asyncio.create_task(self._renew_leases()),
            asyncio.create_task(self._purge_done()),
        ]
        if self.listen_url:
            helpers.append(asyncio.create_task(self._listen(self.listen_url)))
        log.info("worker %s running %s", self.id, ", ".join(sorted(self.handlers)) or "nothing")
        try:
            while not self._stopping:
                free = self.concurrency - len(self.running)
                claimed: list[Job] = []
                if free > 0:
                    try:
                        claimed = await jobs.claim(
                            self.sessionmaker, self.id, free, self.lease, list(self.handlers)
                        )
                    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                        log.warning("worker %s cannot claim jobs: %s", self.id, exc)
                    except Exception as exc:  # e.g. SQLAlchemy's wrapping of the above
                        log.warning("worker %s cannot claim jobs: %r", self.id, exc)
                for job in claimed:
                    task = asyncio.create_task(self._run_one(job))
                    self.running[task] = job
                    task.add_done_callback(self._done)
                if free > 0 and len(claimed) == free:
                    await asyncio.sleep(0)  # there may be more: claim again at once
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.worker_poll_seconds)
            if self.running:  # stop(): let the jobs in hand finish
                await asyncio.wait(list(self.running), timeout=shutdown_grace)
        finally:
            for helper in helpers:
                helper.cancel()
            await self._abandon()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
            log.info("worker %s stopped", self.id)

    async def _abandon(self) -> None:
        """Cancel the jobs still running and hand them back to be claimed again now."""
        left = dict(self.running)
        if not left:
            return
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        try:
            await jobs.release(self.sessionmaker, list(left.values()))
        except Exception as exc:  # their leases run out instead
            log.warning("worker %s could not hand back %d jobs: %r", self.id, len(left), exc)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)
        self._wake.set()

    async def _run_one(self, job: Job) -> None:
        function = self.handlers[job.kind]
        context = JobContext(self.sessionmaker, self.settings, job.id, job.attempts)
        try:
            try:
                async with asyncio.timeout(self.settings.job_timeout_seconds):
                    await function(context, dict(job.payload))
            except GiveUp as exc:
                log.warning("job %s (%s) given up: %s", job.id, job.kind, exc)
                await jobs.retry(
                    self.sessionmaker, job, _describe(exc), self.settings, give_up=True
                )
            except RetryLater as exc:
                await jobs.retry(
                    self.sessionmaker, job, _describe(exc), self.settings, after=exc.after
                )
            except TimeoutError as exc:
                seconds = self.settings.job_timeout_seconds
                error = f"timed out after {seconds:g} s" + (f": {exc}" if str(exc) else "")
                log.warning("job %s (%s) attempt %d %s", job.id, job.kind, job.attempts, error)
                await jobs.retry(self.sessionmaker, job, error, self.settings)
            except Exception as exc:
                log.warning(
                    "job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, exc
                )
                status = await jobs.retry(self.sessionmaker, job, _describe(exc), self.settings)
                if status == jobs.DEAD:
                    log.error(
                        "job %s (%s) is dead after %d attempts", job.id, job.kind, job.attempts
                    )
            else:
                await jobs.finish(self.sessionmaker, job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # recording the outcome failed: the lease brings it back
            log.warning("job %s (%s): cannot record the outcome: %r", job.id, job.kind, exc)

    async def _renew_leases(self) -> None:
        """Keep the leases of long jobs: every third of a lease."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await jobs.renew(self.sessionmaker, list(self.running.values()), self.lease)
            except Exception as exc:
                log.warning("worker %s cannot renew its leases: %r", self.id, exc)

    async def _purge_done(self) -> None:
        """Every ten minutes, forget done jobs older than `job_keep_done_days`."""
        keep = timedelta(days=self.settings.job_keep_done_days)
        while True:
            await asyncio.sleep(600)
            try:
                if purged := await jobs.purge(self.sessionmaker, keep):
                    log.info("worker %s deleted %d done jobs", self.id, purged)
            except Exception as exc:
                log.warning("worker %s cannot delete done jobs: %r", self.id, exc)

    async def _listen(self, url: str) -> None:
        """Wake when a transaction that added jobs commits (PostgreSQL NOTIFY); polling
        covers the time the connection is down."""
        await listen_forever(url, jobs.CHANNEL, self._notified, on_up=self._wake.set)

    def _notified(self, *_: Any) -> None:
        self._wake.set()


def _describe(exc: BaseException) -> str:
    """What is kept of an error: its type and message, never a stack trace."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
