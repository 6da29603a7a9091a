"""Jobs: added in the transaction of the change that causes them, claimed by one worker at a
time under a lease, retried with capped exponential backoff and jitter, `dead` after too many
attempts. A worker that dies holding a job loses it when the lease runs out.

A claim increments `attempts`; `finish`, `retry` and `renew` name the attempt they hold, so a
worker whose lease ran out (and whose job another worker took) changes nothing."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, event, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from formcase.config import Settings
from formcase.events.models import Job
from formcase.kit.time import utcnow

log = logging.getLogger("formcase.worker")

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"
CHANNEL = "formcase_jobs"  # NOTIFY'd on PostgreSQL when a transaction that added jobs commits
_NOTIFY = "formcase.jobs.notify"
ERROR_LIMIT = 2000  # characters of an error kept in last_error


def add(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    workspace_id: uuid.UUID | None,
    run_after: datetime | None = None,
) -> Job:
    """A job to run once this transaction commits (or at `run_after`). Does not commit."""
    now = utcnow()
    job = Job(
        id=uuid.uuid4(),
        kind=kind,
        payload=payload,
        status=PENDING,
        attempts=0,
        run_after=run_after or now,
        leased_until=None,
        last_error=None,
        workspace_id=workspace_id,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.info[_NOTIFY] = True
    return job


@event.listens_for(Session, "before_commit")
def _notify_workers(session: Session) -> None:
    """Wake idle workers on PostgreSQL: NOTIFY is delivered when (and only if) the
    transaction commits."""
    notify = session.info.pop(_NOTIFY, False)
    if notify and session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


@event.listens_for(Session, "after_rollback")
def _forget_notify(session: Session) -> None:
    session.info.pop(_NOTIFY, None)


def _claimable(now: datetime, kinds: Collection[str]) -> Any:
    return and_(
        Job.kind.in_(list(kinds)),
        or_(
            and_(Job.status == PENDING, Job.run_after <= now),
            and_(Job.status == RUNNING, Job.leased_until < now),
        ),
    )


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker_id: str,
    limit: int,
    lease: timedelta,
    kinds: Collection[str],
) -> list[Job]:
    """Up to `limit` due jobs of these kinds (oldest due first), leased to this worker: one
    statement in one transaction. On PostgreSQL rows other workers are claiming are skipped
    (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time anyway."""
    if limit <= 0 or not kinds:
        return []
    now = utcnow()
    async with sessionmaker() as session:
        # A read first: an idle worker takes no write lock (SQLite has one for the whole file).
        if await session.scalar(select(Job.id).where(_claimable(now, kinds)).limit(1)) is None:
            return []
    async with sessionmaker() as session:
        due = select(Job.id).where(_claimable(now, kinds)).order_by(Job.run_after).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # A materialised CTE: evaluated once (a subquery under IN may be run again per row by
        # PostgreSQL's planner, and then claim more than `limit` jobs).
        chosen = due.cte("due").prefix_with("MATERIALIZED")
        claimed = (
            (
                await session.execute(
                    update(Job)
                    .where(Job.id.in_(select(chosen.c.id)))
                    # the condition again: on SQLite the subquery and the update are one statement
                    # under the one write lock; on PostgreSQL the locked rows are re-checked
                    .where(_claimable(now, kinds))
                    .values(
                        status=RUNNING,
                        leased_until=now + lease,
                        attempts=Job.attempts + 1,
                        updated_at=now,
                    )
                    .returning(Job)
                    .execution_options(synchronize_session=False)
                )
            )
            .scalars()
            .all()
        )
        await session.commit()
    if claimed:
        log.debug("worker %s claimed %d jobs", worker_id, len(claimed))
    return sorted(claimed, key=lambda job: job.run_after)


def _held(job: Job) -> Any:
    """The claim this worker holds: the same attempt, still running."""
    return and_(Job.id == job.id, Job.attempts == job.attempts, Job.status == RUNNING)


async def finish(sessionmaker: async_sessionmaker[AsyncSession], job: Job) -> bool:
    """The job is done; False if the claim was lost meanwhile (another worker has it)."""
    async with sessionmaker() as session:
        result = await session.execute(
            update(Job)
            .where(_held(job))
            .values(status=DONE, leased_until=None, last_error=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff(attempts: int, settings: Settings, rand: random.Random | None = None) -> timedelta:
    """The delay after the `attempts`-th failed attempt: base * 2^(attempts-1), capped, then
    ±20 % jitter (so that jobs failing together do not retry together)."""
    delay = min(
        settings.job_backoff_seconds * 2 ** min(max(attempts - 1, 0), 60),
        settings.job_backoff_max_seconds,
    )
    return timedelta(seconds=delay * (rand or random).uniform(0.8, 1.2))


async def retry(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: Job,
    error: str,
    settings: Settings,
    *,
    after: timedelta | None = None,
    give_up: bool = False,
) -> str:
    """The attempt failed: pending again after a backoff (or `after`), or `dead` once
    `job_max_attempts` attempts have failed (or at once with `give_up`). Returns the new
    status ('' if the claim was lost meanwhile)."""
    now = utcnow()
    dead = give_up or job.attempts >= settings.job_max_attempts
    values: dict[str, Any] = {
        "status": DEAD if dead else PENDING,
        "leased_until": None,
        "last_error": error[:ERROR_LIMIT],
        "updated_at": now,
    }
    if not dead:
        delay = after if after is not None else backoff(job.attempts, settings)
        values["run_after"] = now + delay
    async with sessionmaker() as session:
        result = await session.execute(
            update(Job)
            .where(_held(job))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return str(values["status"]) if result.rowcount else ""  # type: ignore[attr-defined]


async def renew(
    sessionmaker: async_sessionmaker[AsyncSession], jobs: Collection[Job], lease: timedelta
) -> None:
    """Extend the leases of jobs still running here (a long job is not taken away)."""
    if not jobs:
        return
    async with sessionmaker() as session:
        until = utcnow() + lease
        for job in jobs:
            await session.execute(
                update(Job)
                .where(_held(job))
                .values(leased_until=until)
                .execution_options(synchronize_session=False)
            )
        await session.commit()


async def release(sessionmaker: async_sessionmaker[AsyncSession], jobs: Collection[Job]) -> None:
    """Hand back jobs this worker stops without finishing (shutdown): due again now, and the
    attempt not counted."""
    if not jobs:
        return
    async with sessionmaker() as session:
        now = utcnow()
        for job in jobs:
            await session.execute(
                update(Job)
                .where(_held(job))
                .values(
                    status=PENDING,
                    leased_until=None,
                    run_after=now,
                    attempts=Job.attempts - 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        session.info[_NOTIFY] = True
        await session.commit()


async def purge(sessionmaker: async_sessionmaker[AsyncSession], older_than: timedelta) -> int:
    """Delete done jobs last due more than `older_than` ago (dead ones are kept, to be looked
    into); returns how many. Deletes in slices, so that no transaction runs long."""
    cutoff = utcnow() - older_than
    total = 0
    while True:
        async with sessionmaker() as session:
            old = (
                select(Job.id)
                .where(Job.status == DONE, Job.run_after < cutoff)
                .limit(1000)
                .scalar_subquery()
            )
            result = await session.execute(
                delete(Job).where(Job.id.in_(old)).execution_options(synchronize_session=False)
            )
            await session.commit()
        deleted = int(result.rowcount)  # type: ignore[attr-defined]
        total += deleted
        if deleted < 1000:
            return total
