"""What job handlers are: the registry the worker looks kinds up in. Kept apart from the
runner so that handler modules can import it whichever is imported first."""

from __future__ import annotations

import functools
import importlib.util
import logging
import ssl
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import certifi
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.kit.time import utcnow
from formcase.worker import jobs

log = logging.getLogger("formcase.worker")


@dataclass(frozen=True)
class JobContext:
    """What a handler gets besides the job's payload."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    job_id: uuid.UUID
    attempt: int  # 1 on the first try
    # The worker's HTTP client, shared by its jobs (connections kept alive between calls to
    # the same host); None when a job is run outside a worker: make one (`http_client()`).
    http: httpx.AsyncClient | None = None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: making one loads the CA bundle (~30 ms), which done per
    webhook delivery held a worker to about 20 deliveries a second."""
    return ssl.create_default_context(cafile=certifi.where())


def _no_sniffio() -> None:
    """httpcore tries `import sniffio` each time it sets up a lock or an event, several times
    a request; sniffio is no longer installed with anyio, and a failed import is not
    remembered: 0.7 ms of CPU a request, 1.7 ms in all (encode/httpcore#1103). Recorded as
    missing, it fails at once, and httpcore takes asyncio as it does without it."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def http_client() -> httpx.AsyncClient:
    """An HTTP client for jobs that call out: certifi's CAs, redirects not followed (a
    caller that wants them checks where they lead), no limit on connections (the worker's
    concurrency is the limit). Each request passes its own timeout."""
    _no_sniffio()
    return httpx.AsyncClient(
        verify=tls_context(),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
        timeout=30,
    )


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]

# kind -> handler; a worker claims only the kinds it has a handler for.
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register a coroutine as the handler of a job kind: returning ends the job (done);
    raising retries it with backoff (`RetryLater` sets the delay, `GiveUp` makes it dead,
    `NotYet` puts it back without counting the attempt)."""

    def register(function: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not function:
            raise ValueError(f"job kind {kind!r} already has a handler")
        HANDLERS[kind] = function
        return function

    return register


# kind -> how often it runs, from the settings (None: never), for the periodic kinds
PERIODIC: dict[str, Callable[[Settings], timedelta | None]] = {}


def periodic(
    kind: str, every: Callable[[Settings], timedelta | None]
) -> Callable[[Handler], Handler]:
    """Register a handler that runs every `every(settings)` (None: never), one run at a time
    however many workers there are: the kind has one job (`jobs.periodic_id`), which workers
    plan when they start, and which each run puts back to pending for the next time. A
    failed run is logged, not retried: the next run is the retry."""

    def register(function: Handler) -> Handler:
        async def run(context: JobContext, payload: dict[str, Any]) -> None:
            interval = every(context.settings)
            if interval is None:
                return  # turned off: the job ends here, done
            error = None
            try:
                await function(context, payload)
            except Exception as exc:
                log.warning("periodic job %s failed: %r", kind, exc)
                error = f"{type(exc).__name__}: {exc}"
            await jobs.reschedule(
                context.sessionmaker, context.job_id, context.attempt, utcnow() + interval, error
            )

        handler(kind)(run)
        PERIODIC[kind] = every
        return function

    return register


class RetryLater(Exception):
    """Raise to retry after a given delay (a receiver's Retry-After) instead of the backoff."""

    def __init__(self, message: str, after: timedelta) -> None:
        super().__init__(message)
        self.after = after


class NotYet(Exception):
    """Raise when the job must wait for another (a webhook delivery for the one before it):
    pending again after `after`, or as soon as `jobs.wake` names it, the attempt not
    counted."""

    def __init__(self, message: str, after: timedelta) -> None:
        super().__init__(message)
        self.after = after


class GiveUp(Exception):
    """Raise when retrying cannot help: the job goes straight to `dead`."""
