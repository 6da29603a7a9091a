"""The worker: claims due jobs, runs them concurrently, records how each attempt ended.

`formcase worker` runs one until SIGTERM; `formcase serve` runs one in-process unless
`--no-worker`. On PostgreSQL an idle worker wakes on NOTIFY `formcase_jobs` (sent when a
transaction that added jobs commits) and otherwise polls every `worker_poll_seconds`.

One loop does the bookkeeping, in rounds: one transaction marks done the jobs that ended
well since the last round and claims as many new ones as there are free slots. Jobs ending
while a round is under way wait for the next. While jobs are due, a round waits until half
the slots are free (REFILL_WAIT at most), so a busy worker spends one transaction on
several jobs, not one on each. When a claim found fewer jobs than it asked for (nothing is
waiting), the next round waits until CLAIM_GAP after it: every worker wakes on every
NOTIFY, and at a few hundred commits a second each would otherwise run that many claims,
nearly all empty."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.db.listen import listen_forever
from formcase.events.models import Job
from formcase.worker import jobs
from formcase.worker.registry import (
    HANDLERS,
    PERIODIC,
    GiveUp,
    Handler,
    JobContext,
    NotYet,
    RetryLater,
    handler,
    http_client,
)

# isort: split
# handler modules: imported here so that they register
from formcase.attachments import jobs as attachment_jobs  # noqa: F401
from formcase.docintel import jobs as docintel_jobs  # noqa: F401
from formcase.notifications import jobs as notification_jobs  # noqa: F401
from formcase.webhooks import jobs as webhook_jobs  # noqa: F401

if os.environ.get("FORMCASE_TEST_HANDLERS") == "1":  # test-only job kinds (tests/worker)
    from formcase.worker import testing  # noqa: F401

__all__ = [
    "HANDLERS",
    "GiveUp",
    "Handler",
    "JobContext",
    "NotYet",
    "RetryLater",
    "Worker",
    "handler",
]

log = logging.getLogger("formcase.worker")

# Seconds between two rounds once a claim found the queue empty (±50 % so that workers woken
# together drift apart).
CLAIM_GAP = 0.05
# While jobs are due, a round waits until half the slots are free, or this long after the
# first one freed.
REFILL_WAIT = 0.05


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
        self.refill = max(1, self.concurrency // 2)
        self.handlers = HANDLERS if handlers is None else handlers
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        # LISTEN for new jobs on PostgreSQL (None: poll only)
        url = listen_url if listen_url is not None else settings.resolved_database_url
        self.listen_url = url if url.startswith("postgresql") else None
        self.running: dict[asyncio.Task[None], Job] = {}
        self.finished: list[Job] = []  # ran to the end, not yet marked done
        self.http: httpx.AsyncClient | None = None  # made by run(), shared by the jobs
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
            asyncio.create_task(self._plan_periodic()),
        ]
        if self.listen_url:
            helpers.append(asyncio.create_task(self._listen(self.listen_url)))
        log.info("worker %s running %s", self.id, ", ".join(sorted(self.handlers)) or "nothing")
        self.http = http = http_client()
        try:
            next_round = 0.0
            backlog = False  # the last claim filled every free slot: more jobs are due
            first_free: float | None = None  # when a slot freed while jobs were due
            while not self._stopping:
                if (pause := next_round - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
                self._wake.clear()  # what happens from now on wakes the wait below
                free = self.concurrency - len(self.running)
                now = time.monotonic()
                if free <= 0 and not self.finished:  # every slot busy: wait for one
                    wait = self.settings.worker_poll_seconds
                elif backlog and free < self.refill and now - (first_free or now) < REFILL_WAIT:
                    # Jobs are due: refill half the slots at once, not one slot a round.
                    first_free = first_free or now
                    wait = first_free + REFILL_WAIT - now
                else:
                    wait = 0
                if wait:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    continue
                first_free = None
                claimed = await self._round(max(free, 0))
                for job in claimed or ():
                    task = asyncio.create_task(self._run_one(job))
                    self.running[task] = job
                    task.add_done_callback(self._done)
                backlog = bool(claimed) and len(claimed or ()) == free
                if claimed is None:  # the database did not answer: try again later
                    next_round = time.monotonic() + self.settings.worker_poll_seconds
                elif backlog:
                    next_round = 0.0
                elif free > 0:  # the queue is empty: no new round before the gap
                    next_round = time.monotonic() + CLAIM_GAP * random.uniform(0.5, 1.5)
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
            await http.aclose()
            log.info("worker %s stopped", self.id)

    async def _round(self, free: int) -> list[Job] | None:
        """Mark done the jobs that ended well and claim up to `free` new ones, in one
        transaction; None if that failed. The finished jobs then wait for the next round
        (their claims still hold; were this worker to die, their leases would run out and
        they would run again: at least once)."""
        finished = list(self.finished)  # jobs ending meanwhile are appended to self.finished
        try:
            claimed = await jobs.claim(
                self.sessionmaker,
                self.id,
                free,
                self.lease,
                list(self.handlers),
                finished=finished,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("worker %s cannot claim jobs: %s", self.id, exc)
            return None
        except Exception as exc:  # e.g. SQLAlchemy's wrapping of the above
            log.warning("worker %s cannot claim jobs: %r", self.id, exc)
            return None
        del self.finished[: len(finished)]
        return claimed

    async def _abandon(self) -> None:
        """Cancel the jobs still running and hand them back to be claimed again now; record
        the ones that ended well."""
        left = dict(self.running)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        if self.finished:
            try:
                await jobs.finish_all(self.sessionmaker, self.finished)
                self.finished = []
            except Exception as exc:  # their leases run out: they run again
                log.warning(
                    "worker %s could not mark %d jobs done: %r", self.id, len(self.finished), exc
                )
        if not left:
            return
        try:
            await jobs.release(self.sessionmaker, list(left.values()))
        except Exception as exc:  # their leases run out instead
            log.warning("worker %s could not hand back %d jobs: %r", self.id, len(left), exc)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.running.pop(task, None)
        self._wake.set()

    async def _run_one(self, job: Job) -> None:
        function = self.handlers[job.kind]
        context = JobContext(self.sessionmaker, self.settings, job.id, job.attempts, self.http)
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
            except NotYet as exc:
                await jobs.postpone(self.sessionmaker, job, exc.after)
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
                self.finished.append(job)  # marked done by the next round
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # recording the outcome failed: the lease brings it back
            log.warning("job %s (%s): cannot record the outcome: %r", job.id, job.kind, exc)

    async def _renew_leases(self) -> None:
        """Keep the leases of long jobs: every third of a lease."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                held = [*self.running.values(), *self.finished]  # finished: not yet marked
                await jobs.renew(self.sessionmaker, held, self.lease)
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

    async def _plan_periodic(self) -> None:
        """At start and then every ten minutes, make sure the periodic jobs this worker can
        run are planned (one that ended dead comes back)."""
        while True:
            for kind, every in PERIODIC.items():
                if kind not in self.handlers or every(self.settings) is None:
                    continue
                try:
                    await jobs.plan_periodic(self.sessionmaker, kind)
                except Exception as exc:
                    log.warning("worker %s cannot plan the %s job: %r", self.id, kind, exc)
            await asyncio.sleep(600)

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
