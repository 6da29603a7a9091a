"""Jobs: claimed under a lease by one worker at a time, retried with capped exponential
backoff and jitter, dead after too many attempts; a lost lease hands the job to another."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.config import Settings
from formcase.events.models import Job
from formcase.kit.time import utcnow
from formcase.worker import jobs
from formcase.worker.registry import GiveUp, JobContext, RetryLater
from formcase.worker.runner import Worker

Sessions = async_sessionmaker[AsyncSession]
LEASE = timedelta(seconds=30)


def new_kind() -> str:
    """A kind of this test's own: no other worker (the app's) has a handler for it."""
    return f"t:{uuid.uuid4().hex[:12]}"


async def add_jobs(sessionmaker: Sessions, kind: str, count: int, **options: Any) -> list[Job]:
    async with sessionmaker() as session:
        added = [
            jobs.add(session, kind, {"n": n}, workspace_id=None, **options) for n in range(count)
        ]
        await session.commit()
    return added


async def reload(sessionmaker: Sessions, job_id: uuid.UUID) -> Job:
    async with sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def test_claim_leases_due_jobs_once(sessionmaker: Sessions) -> None:
    kind = new_kind()
    [due] = await add_jobs(sessionmaker, kind, 1)
    [later] = await add_jobs(sessionmaker, kind, 1, run_after=utcnow() + timedelta(hours=1))
    async with sessionmaker() as session:
        jobs.add(session, kind, {}, workspace_id=None)
        await session.rollback()  # never there

    [claimed] = await jobs.claim(sessionmaker, "w1", 10, LEASE, [kind])
    assert claimed.id == due.id and claimed.status == "running" and claimed.attempts == 1
    assert claimed.leased_until is not None
    assert LEASE - timedelta(seconds=5) < claimed.leased_until - utcnow() <= LEASE
    assert await jobs.claim(sessionmaker, "w2", 10, LEASE, [kind]) == []  # leased, not due
    assert await jobs.claim(sessionmaker, "w2", 10, LEASE, [new_kind()]) == []
    assert (await reload(sessionmaker, later.id)).status == "pending"

    assert await jobs.finish(sessionmaker, claimed)
    done = await reload(sessionmaker, due.id)
    assert (done.status, done.leased_until, done.attempts) == ("done", None, 1)
    assert await jobs.claim(sessionmaker, "w2", 10, LEASE, [kind]) == []


async def test_an_expired_lease_hands_the_job_to_another_worker(sessionmaker: Sessions) -> None:
    kind = new_kind()
    [job] = await add_jobs(sessionmaker, kind, 1)
    [first] = await jobs.claim(sessionmaker, "crashed", 1, timedelta(seconds=-1), [kind])
    [second] = await jobs.claim(sessionmaker, "w2", 1, LEASE, [kind])  # lease ran out
    assert first.id == second.id == job.id and second.attempts == 2
    # The first worker wakes up late: its claim is gone, so what it says changes nothing.
    assert not await jobs.finish(sessionmaker, first)
    settings = Settings()
    assert await jobs.retry(sessionmaker, first, "late", settings) == ""
    assert (await reload(sessionmaker, job.id)).status == "running"
    await jobs.renew(sessionmaker, [second], timedelta(hours=1))
    renewed = await reload(sessionmaker, job.id)
    assert renewed.leased_until is not None
    assert renewed.leased_until - utcnow() > timedelta(minutes=59)
    assert await jobs.finish(sessionmaker, second)


async def test_claim_takes_expired_leases_and_due_jobs_oldest_first(
    sessionmaker: Sessions,
) -> None:
    kind = new_kind()
    now = utcnow()
    oldest, old, recent = await add_jobs(sessionmaker, kind, 3, run_after=now)
    async with sessionmaker() as session:  # due at different times
        for job, minutes in ((oldest, 30), (old, 20), (recent, 10)):
            (await session.get_one(Job, job.id)).run_after = now - timedelta(minutes=minutes)
        await session.commit()
    [crashed] = await jobs.claim(sessionmaker, "crashed", 1, timedelta(seconds=-1), [kind])
    assert crashed.id == oldest.id  # and its lease has run out
    [not_yet] = await add_jobs(sessionmaker, kind, 1, run_after=now + timedelta(hours=1))

    first = await jobs.claim(sessionmaker, "w", 2, LEASE, [kind])
    assert [job.id for job in first] == [oldest.id, old.id]  # the limit holds across both
    assert first[0].attempts == 2
    [last] = await jobs.claim(sessionmaker, "w", 5, LEASE, [kind])
    assert last.id == recent.id
    assert await jobs.claim(sessionmaker, "w", 5, LEASE, [kind]) == []
    assert (await reload(sessionmaker, not_yet.id)).status == "pending"


async def test_claim_marks_finished_jobs_done_if_their_claims_hold(sessionmaker: Sessions) -> None:
    kind = new_kind()
    held, lost = await add_jobs(sessionmaker, kind, 2)
    claimed = await jobs.claim(sessionmaker, "w1", 2, LEASE, [kind])
    mine = {job.id: job for job in claimed}
    async with sessionmaker() as session:  # w1's lease on `lost` ran out, w2 took it
        (await session.get_one(Job, lost.id)).leased_until = utcnow() - timedelta(seconds=1)
        await session.commit()
    [taken] = await jobs.claim(sessionmaker, "w2", 1, LEASE, [kind])
    assert taken.id == lost.id

    [fresh] = await add_jobs(sessionmaker, kind, 1)
    again = await jobs.claim(sessionmaker, "w1", 1, LEASE, [kind], finished=list(mine.values()))
    assert [job.id for job in again] == [fresh.id]
    assert (await reload(sessionmaker, held.id)).status == "done"
    assert (await reload(sessionmaker, lost.id)).status == "running"  # w2's, untouched
    assert await jobs.finish_all(sessionmaker, [taken, *again]) == 2


def test_backoff_doubles_is_capped_and_jittered() -> None:
    settings = Settings(job_backoff_seconds=2, job_backoff_max_seconds=3600)
    rand = random.Random(7)
    for attempts, base in ((1, 2), (2, 4), (3, 8), (10, 1024), (12, 3600), (500, 3600)):
        delays = [jobs.backoff(attempts, settings, rand).total_seconds() for _ in range(200)]
        assert base * 0.8 <= min(delays) and max(delays) <= base * 1.2
        assert max(delays) - min(delays) > base * 0.2  # jittered, not all the same


async def test_retry_backs_off_then_dead(sessionmaker: Sessions) -> None:
    kind = new_kind()
    settings = Settings(job_max_attempts=2, job_backoff_seconds=60)
    [job] = await add_jobs(sessionmaker, kind, 1)
    [claimed] = await jobs.claim(sessionmaker, "w", 1, LEASE, [kind])
    assert await jobs.retry(sessionmaker, claimed, "ConnectError: refused", settings) == "pending"
    waiting = await reload(sessionmaker, job.id)
    assert waiting.last_error == "ConnectError: refused" and waiting.leased_until is None
    assert timedelta(seconds=47) < waiting.run_after - utcnow() <= timedelta(seconds=72)
    assert await jobs.claim(sessionmaker, "w", 1, LEASE, [kind]) == []  # not due yet

    async with sessionmaker() as session:  # time passes
        (await session.get_one(Job, job.id)).run_after = utcnow()
        await session.commit()
    [again] = await jobs.claim(sessionmaker, "w", 1, LEASE, [kind])
    assert again.attempts == 2
    assert await jobs.retry(sessionmaker, again, "x" * 5000, settings) == "dead"
    dead = await reload(sessionmaker, job.id)
    assert dead.status == "dead" and dead.last_error == "x" * jobs.ERROR_LIMIT
    assert await jobs.claim(sessionmaker, "w", 1, LEASE, [kind]) == []


async def test_concurrent_claimers_never_share_a_job(sessionmaker: Sessions) -> None:
    kind = new_kind()
    added = await add_jobs(sessionmaker, kind, 300)
    seen: list[list[uuid.UUID]] = [[] for _ in range(4)]

    async def claimer(index: int) -> None:
        while claimed := await jobs.claim(sessionmaker, f"w{index}", 7, LEASE, [kind]):
            seen[index] += [job.id for job in claimed]

    await asyncio.gather(*(claimer(i) for i in range(4)))
    every = [job_id for ids in seen for job_id in ids]
    assert len(every) == len(set(every)) == 300
    assert set(every) == {job.id for job in added}


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


async def run_until(
    worker: Worker, sessionmaker: Sessions, job_ids: list[uuid.UUID], limit: float = 20
) -> list[Job]:
    """Run the worker until these jobs are done or dead."""
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(limit):
            while True:
                found = [await reload(sessionmaker, job_id) for job_id in job_ids]
                if all(job.status in ("done", "dead") for job in found):
                    return found
                await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await task


def quick(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={"job_backoff_seconds": 0.01, "worker_poll_seconds": 0.05, **changes}
    )


async def test_worker_runs_retries_and_gives_up(sessionmaker: Sessions, settings: Settings) -> None:
    ok, flaky, broken, hopeless, slow, later = (new_kind() for _ in range(6))
    calls: dict[str, list[int]] = {}

    async def record(kind: str, context: JobContext, payload: dict[str, Any]) -> None:
        calls.setdefault(kind, []).append(context.attempt)
        assert (await reload(context.sessionmaker, context.job_id)).status == "running"
        assert payload == {"n": 0}

    async def succeed(context: JobContext, payload: dict[str, Any]) -> None:
        await record(ok, context, payload)

    async def fail_twice(context: JobContext, payload: dict[str, Any]) -> None:
        await record(flaky, context, payload)
        if context.attempt < 3:
            raise ConnectionError("receiver down")

    async def always_fail(context: JobContext, payload: dict[str, Any]) -> None:
        await record(broken, context, payload)
        raise ValueError("boom")

    async def give_up(context: JobContext, payload: dict[str, Any]) -> None:
        await record(hopeless, context, payload)
        raise GiveUp("subscription deleted")

    async def hang(context: JobContext, payload: dict[str, Any]) -> None:
        await record(slow, context, payload)
        if context.attempt == 1:
            await asyncio.sleep(60)

    async def not_now(context: JobContext, payload: dict[str, Any]) -> None:
        await record(later, context, payload)
        raise RetryLater("429 Too Many Requests", timedelta(hours=2))

    handlers: dict[str, Handler] = {
        ok: succeed,
        flaky: fail_twice,
        broken: always_fail,
        hopeless: give_up,
        slow: hang,
        later: not_now,
    }
    ids = {kind: (await add_jobs(sessionmaker, kind, 1))[0].id for kind in handlers}
    worker = Worker(
        sessionmaker,
        quick(settings, job_max_attempts=4, job_timeout_seconds=0.5),
        handlers=handlers,
    )
    finished = await run_until(worker, sessionmaker, [ids[k] for k in handlers if k != later])
    by_kind = {job.kind: job for job in finished}
    assert (by_kind[ok].status, by_kind[ok].attempts, calls[ok]) == ("done", 1, [1])
    assert (by_kind[flaky].status, calls[flaky]) == ("done", [1, 2, 3])
    assert by_kind[flaky].last_error is None
    assert (by_kind[broken].status, calls[broken]) == ("dead", [1, 2, 3, 4])
    assert by_kind[broken].last_error == "ValueError: boom"  # no stack trace
    assert (by_kind[hopeless].status, calls[hopeless]) == ("dead", [1])
    assert by_kind[hopeless].last_error == "GiveUp: subscription deleted"
    assert (by_kind[slow].status, calls[slow]) == ("done", [1, 2])  # timed out, then retried
    waiting = await reload(sessionmaker, ids[later])
    assert waiting.status == "pending" and calls[later] == [1]
    assert waiting.run_after - utcnow() > timedelta(minutes=119)
    assert waiting.last_error == "RetryLater: 429 Too Many Requests"


async def test_a_stopped_worker_hands_back_what_it_holds(
    sessionmaker: Sessions, settings: Settings
) -> None:
    kind = new_kind()
    started = asyncio.Event()

    async def forever(context: JobContext, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(3600)

    [job] = await add_jobs(sessionmaker, kind, 1)
    worker = Worker(sessionmaker, quick(settings), handlers={kind: forever})
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    assert (await reload(sessionmaker, job.id)).status == "running"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    back = await reload(sessionmaker, job.id)
    # Claimable again at once by another worker, and the interrupted attempt not counted.
    assert (back.status, back.attempts, back.leased_until) == ("pending", 0, None)


async def test_postgresql_workers_wake_on_notify(
    sessionmaker: Sessions, settings: Settings
) -> None:
    if settings.is_sqlite:
        pytest.skip("NOTIFY is PostgreSQL's; SQLite workers poll")
    kind = new_kind()
    ran = asyncio.Event()

    async def done(context: JobContext, payload: dict[str, Any]) -> None:
        ran.set()

    # Polling once a minute: only the notification can make it run within seconds.
    worker = Worker(sessionmaker, quick(settings, worker_poll_seconds=60), handlers={kind: done})
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1)  # listening, and past its first (empty) claim
        await add_jobs(sessionmaker, kind, 1)
        await asyncio.wait_for(ran.wait(), 5)
    finally:
        worker.stop()
        await task


async def test_old_done_jobs_are_purged_dead_ones_kept(sessionmaker: Sessions) -> None:
    kind = new_kind()
    old_done, old_dead, new_done = await add_jobs(
        sessionmaker, kind, 3, run_after=utcnow() - timedelta(days=8)
    )
    async with sessionmaker() as session:
        (await session.get_one(Job, old_done.id)).status = "done"
        (await session.get_one(Job, old_dead.id)).status = "dead"
        recent = await session.get_one(Job, new_done.id)
        recent.status, recent.run_after = "done", utcnow() - timedelta(days=1)
        await session.commit()
    assert await jobs.purge(sessionmaker, timedelta(days=7)) >= 1  # other tests' too
    async with sessionmaker() as session:
        assert await session.get(Job, old_done.id) is None
        assert await session.get(Job, old_dead.id) is not None
        assert await session.get(Job, new_done.id) is not None


async def test_a_waiting_job_is_put_back_uncounted_and_a_wake_up_is_not_lost(
    sessionmaker: Sessions,
) -> None:
    """`postpone` (a handler's NotYet): pending again later, the attempt not counted. A
    `wake` that came while the job ran (between its check and its postponing) makes it
    due at once instead of after the wait."""
    kind = new_kind()
    [alone, woken] = await add_jobs(sessionmaker, kind, 2)
    claimed = await jobs.claim(sessionmaker, "w1", 2, LEASE, [kind])
    by_id = {job.id: job for job in claimed}
    async with sessionmaker() as session:
        await jobs.wake(session, woken.id)  # while it runs
        await session.commit()
    for job in claimed:
        await jobs.postpone(sessionmaker, job, timedelta(hours=1))
    waiting, due = await reload(sessionmaker, alone.id), await reload(sessionmaker, woken.id)
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert waiting.run_after > utcnow() + timedelta(minutes=59)
    assert (due.status, due.attempts) == ("pending", 0)
    assert due.run_after <= utcnow()
    [again] = await jobs.claim(sessionmaker, "w2", 2, LEASE, [kind])
    assert again.id == woken.id and again.attempts == 1 and by_id[woken.id].attempts == 1
    # a wake-up of a job that waits makes it due too
    async with sessionmaker() as session:
        await jobs.wake(session, alone.id)
        await session.commit()
    [last] = await jobs.claim(sessionmaker, "w2", 2, LEASE, [kind])
    assert last.id == alone.id
