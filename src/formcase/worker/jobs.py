"""Jobs: added in the transaction of the change that causes them, claimed by one worker at a
time under a lease, retried with capped exponential backoff and jitter, `dead` after too many
attempts. A worker that dies holding a job loses it when the lease runs out.

A claim increments `attempts`; `finish`, `retry` and `renew` name the attempt they hold, so a
worker whose lease ran out (and whose job another worker took) changes nothing."""

from __future__ import annotations

import functools
import logging
import random
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Integer,
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from formcase.config import Settings
from formcase.events.models import Job
from formcase.kit.time import utcnow

log = logging.getLogger("formcase.worker")

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"
CHANNEL = "formcase_jobs"  # NOTIFY'd on PostgreSQL when a transaction that added jobs commits
_NOTIFY = "formcase.jobs.notify"
ERROR_LIMIT = 2000  # characters of an error kept in last_error
# The one job of each periodic kind has the id uuid5(this, kind): a second cannot be made.
_PERIODIC = uuid.UUID("1c9b6d43-3f0e-4c55-9a43-5b8f6d0e2a71")


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


_jobs = cast(Table, Job.__table__)


@functools.cache
def _claim_statement(kinds: tuple[str, ...], locking: bool) -> Any:
    """The claim, built once per set of kinds (building it took more CPU than running it):
    parameters `now`, `limit`, `leased_until`.

    The ids of up to `limit` claimable jobs, oldest due first, come from two ordered scans
    that each stop after `limit` rows: pending jobs in `run_after` order, and running jobs
    whose lease ran out (usually none). One condition with an OR between the two made
    PostgreSQL fetch and sort every due job on each claim: 5 ms a claim with 10,000 waiting.
    On PostgreSQL rows other workers are claiming are skipped (FOR UPDATE SKIP LOCKED)."""
    c = _jobs.c
    now = bindparam("now", type_=c.run_after.type)
    limit = bindparam("limit", type_=Integer)
    pending = (
        select(c.id, c.run_after)
        .where(c.kind.in_(kinds), c.status == PENDING, c.run_after <= now)
        .order_by(c.run_after)
        .limit(limit)
    )
    expired = (
        select(c.id, c.run_after)
        .where(c.kind.in_(kinds), c.status == RUNNING, c.leased_until < now)
        .order_by(c.leased_until)
        .limit(limit)
    )
    if locking:
        pending = pending.with_for_update(skip_locked=True)
        expired = expired.with_for_update(skip_locked=True)
    both = union_all(
        select(pending.subquery("pending")), select(expired.subquery("expired"))
    ).subquery("both")
    # A materialised CTE: evaluated once (a subquery under IN may be run again per row by
    # PostgreSQL's planner, and then claim more than `limit` jobs).
    chosen = (
        select(both.c.id)
        .order_by(both.c.run_after)
        .limit(limit)
        .cte("due")
        .prefix_with("MATERIALIZED")
    )
    return (
        update(_jobs)
        .where(c.id.in_(select(chosen.c.id)))
        # the condition again: on SQLite the subquery and the update are one statement under
        # the one write lock; on PostgreSQL the locked rows are re-checked
        .where(
            c.kind.in_(kinds),
            or_(
                and_(c.status == PENDING, c.run_after <= now),
                and_(c.status == RUNNING, c.leased_until < now),
            ),
        )
        .values(
            status=RUNNING,
            leased_until=bindparam("leased_until", type_=c.leased_until.type),
            attempts=c.attempts + 1,
            updated_at=now,
        )
        .returning(*c)
    )


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker_id: str,
    limit: int,
    lease: timedelta,
    kinds: Collection[str],
    *,
    finished: Collection[Job] = (),
) -> list[Job]:
    """Up to `limit` due jobs of these kinds (oldest due first), leased to this worker: one
    statement in one transaction. On PostgreSQL rows other workers are claiming are skipped
    (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time anyway.

    `finished`: jobs this worker has run to the end, marked done in the same transaction
    first (as `finish` does, each only if its claim still holds): a worker busy with short
    jobs then spends one transaction on each round of them, not two on each job."""
    limit = max(limit, 0) if kinds else 0
    if limit == 0 and not finished:
        return []
    now = utcnow()
    async with sessionmaker() as session:
        postgresql = session.get_bind().dialect.name == "postgresql"
        # SQLite: a read first, so that an idle worker takes no write lock (SQLite has one for
        # the whole file). PostgreSQL goes straight to the update, which locks nothing if
        # nothing is due.
        if not postgresql and not finished:
            query = select(Job.id).where(_claimable(now, kinds)).limit(1)
            if await session.scalar(query) is None:
                return []
    claimed: list[Job] = []
    async with sessionmaker() as session:
        if finished:
            await _mark_done(session, finished)
        if limit:
            rows = await session.execute(
                _claim_statement(tuple(sorted(kinds)), postgresql),
                {"now": now, "limit": limit, "leased_until": now + lease},
            )
            claimed = [Job(**row._mapping) for row in rows]
        await session.commit()
    if claimed:
        log.debug("worker %s claimed %d jobs", worker_id, len(claimed))
    return sorted(claimed, key=lambda job: job.run_after)


def _held(job: Job) -> Any:
    """The claim this worker holds: the same attempt, still running."""
    return and_(Job.id == job.id, Job.attempts == job.attempts, Job.status == RUNNING)


def _claims(jobs: Collection[Job]) -> Any:
    """The claims this worker holds on these jobs: each the same attempt, still running."""
    return and_(
        tuple_(Job.id, Job.attempts).in_([(job.id, job.attempts) for job in jobs]),
        Job.status == RUNNING,
    )


_MARK_DONE = (
    update(_jobs)
    .where(
        tuple_(_jobs.c.id, _jobs.c.attempts).in_(bindparam("claims", expanding=True)),
        _jobs.c.status == RUNNING,
    )
    .values(
        status=DONE,
        leased_until=None,
        last_error=None,
        updated_at=bindparam("now", type_=_jobs.c.updated_at.type),
    )
)


async def _mark_done(session: AsyncSession, finished: Collection[Job]) -> int:
    claims = [(job.id, job.attempts) for job in finished]
    result = await session.execute(_MARK_DONE, {"claims": claims, "now": utcnow()})
    return int(result.rowcount)  # type: ignore[attr-defined]


async def finish(sessionmaker: async_sessionmaker[AsyncSession], job: Job) -> bool:
    """The job is done; False if the claim was lost meanwhile (another worker has it)."""
    return bool(await finish_all(sessionmaker, [job]))


async def finish_all(sessionmaker: async_sessionmaker[AsyncSession], jobs: Collection[Job]) -> int:
    """These jobs are done (those whose claim still holds); returns how many."""
    if not jobs:
        return 0
    async with sessionmaker() as session:
        done = await _mark_done(session, jobs)
        await session.commit()
    return done


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


async def postpone(
    sessionmaker: async_sessionmaker[AsyncSession], job: Job, after: timedelta
) -> None:
    """The job waits for another (`NotYet`): pending again after `after`, the attempt not
    counted. Unless `wake` named it while it ran (its `run_after` is no longer the one it
    was claimed with): then it is due at once, and the wake-up is not lost."""
    now = utcnow()
    async with sessionmaker() as session:
        await session.execute(
            update(Job)
            .where(_held(job))
            .values(
                status=PENDING,
                leased_until=None,
                attempts=Job.attempts - 1,
                run_after=case((Job.run_after == job.run_after, now + after), else_=Job.run_after),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()


async def wake(session: AsyncSession, job_id: uuid.UUID | ScalarSelect[Any]) -> None:
    """Make a job that waits (`postpone`) due now, in the caller's transaction (workers are
    told when it commits). A job running meanwhile is due again as soon as it postpones
    itself. `job_id` may be a scalar subquery that finds it (a NULL wakes nothing)."""
    result = await session.execute(
        update(_jobs)
        .where(_jobs.c.id == job_id, _jobs.c.status.in_((PENDING, RUNNING)))
        .values(run_after=utcnow())
    )
    if result.rowcount:  # type: ignore[attr-defined]
        session.info[_NOTIFY] = True


async def renew(
    sessionmaker: async_sessionmaker[AsyncSession], jobs: Collection[Job], lease: timedelta
) -> None:
    """Extend the leases of jobs still running here (a long job is not taken away)."""
    if not jobs:
        return
    async with sessionmaker() as session:
        await session.execute(
            update(Job)
            .where(_claims(jobs))
            .values(leased_until=utcnow() + lease)
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
        await session.execute(
            update(Job)
            .where(_claims(jobs))
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


def periodic_id(kind: str) -> uuid.UUID:
    """The id of the one job of a periodic kind (`registry.periodic`)."""
    return uuid.uuid5(_PERIODIC, kind)


async def plan_periodic(sessionmaker: async_sessionmaker[AsyncSession], kind: str) -> None:
    """Make sure the job of a periodic kind will run: made, due now, if there is none; due
    now again if it ended (done: it was turned off; dead: it timed out too often); left as it
    is while pending or running. Several workers may call this at once: the job's fixed id
    lets only one of them make it."""
    job_id = periodic_id(kind)
    now = utcnow()
    async with sessionmaker() as session:
        revived = await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_([DONE, DEAD]))
            .values(status=PENDING, run_after=now, attempts=0, leased_until=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if revived.rowcount:  # type: ignore[attr-defined]
            session.info[_NOTIFY] = True
        elif await session.get(Job, job_id) is None:
            add(session, kind, {}, workspace_id=None).id = job_id
        try:
            await session.commit()
        except IntegrityError:  # another worker made it meanwhile
            await session.rollback()


async def reschedule(
    sessionmaker: async_sessionmaker[AsyncSession],
    job_id: uuid.UUID,
    attempt: int,
    at: datetime,
    error: str | None,
) -> None:
    """A periodic job's run ended: pending again, due `at`, its attempts counted from zero
    (when the worker then marks the attempt done, it finds the claim gone and changes
    nothing)."""
    async with sessionmaker() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id, Job.attempts == attempt, Job.status == RUNNING)
            .values(
                status=PENDING,
                run_after=at,
                attempts=0,
                leased_until=None,
                last_error=error[:ERROR_LIMIT] if error else None,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
