"""Real `formcase worker` and `formcase serve` processes running jobs: none lost when a
worker is killed mid-run (PostgreSQL, two workers), and the in-process worker of `serve`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from formcase.config import Settings
from formcase.db.connect import make_engine, make_sessionmaker
from formcase.events.models import Job
from formcase.worker import jobs
from tests.e2e.conftest import BIN, Formcase

pytestmark = pytest.mark.e2e

KIND = "test:record"  # formcase/worker/testing.py, registered with FORMCASE_TEST_HANDLERS=1


def settings_of(formcase: Formcase) -> Settings:
    return Settings(
        data_dir=Path(formcase.env["FORMCASE_DATA_DIR"]),
        database_url=formcase.env.get("FORMCASE_DATABASE_URL"),
    )


def add_jobs(settings: Settings, count: int, sleep: float) -> list[uuid.UUID]:
    async def add() -> list[uuid.UUID]:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as session:
                added = [
                    jobs.add(session, KIND, {"sleep": sleep}, workspace_id=None)
                    for _ in range(count)
                ]
                await session.commit()
                return [job.id for job in added]
        finally:
            await engine.dispose()

    return asyncio.run(add())


def statuses(settings: Settings) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as session:
                rows = await session.execute(
                    select(Job.status, func.count()).where(Job.kind == KIND).group_by(Job.status)
                )
                return {status: number for status, number in rows}
        finally:
            await engine.dispose()

    return asyncio.run(count())


def recorded(path: Path) -> list[str]:
    """Job ids the handler recorded, one per run (duplicates: a job run twice)."""
    if not path.exists():
        return []
    return [line.split()[0] for line in path.read_text().splitlines() if line]


def test_no_job_is_lost_when_a_worker_is_killed(formcase_pg: Formcase, tmp_path: Path) -> None:
    formcase_pg.run("db", "upgrade")
    settings = settings_of(formcase_pg)
    record = tmp_path / "ran.txt"
    env = {
        **formcase_pg.env,
        "FORMCASE_TEST_HANDLERS": "1",
        "FORMCASE_TEST_HANDLER_FILE": str(record),
        "FORMCASE_JOB_LEASE_SECONDS": "2",  # the killed worker's jobs come back within 2 s
        "FORMCASE_WORKER_CONCURRENCY": "8",
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(BIN), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    ids = add_jobs(settings, 1000, sleep=0.1)
    began = time.monotonic()
    workers = [start(), start()]
    first = 0.0
    try:
        while not first and not recorded(record):
            assert time.monotonic() - began < 60, "the workers did not start"
            time.sleep(0.02)
        first = time.monotonic() - began
        while len(recorded(record)) < 150:  # mid-run
            assert time.monotonic() - began < 60, "the workers did not start"
            assert all(w.poll() is None for w in workers)
            time.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=10)
        killed_at, killed_after = len(recorded(record)), time.monotonic() - began
        workers[0] = start()  # restarted
        while statuses(settings).get("done", 0) < len(ids):
            assert time.monotonic() - began < 120, f"not all done: {statuses(settings)}"
            time.sleep(0.2)
        elapsed = time.monotonic() - began
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=20)

    assert all(w.returncode == 0 for w in workers[1:])  # SIGTERM: a clean stop
    ran = recorded(record)
    assert set(ran) == {str(job_id) for job_id in ids}  # every job ran, none lost
    assert statuses(settings) == {"done": len(ids)}
    duplicates = len(ran) - len(set(ran))
    pids = {line.split()[1] for line in record.read_text().splitlines()}
    assert len(pids) == 3  # both workers and the restarted one did work
    print(
        f"\n1,000 jobs, 2 workers (one SIGKILLed after {killed_at} jobs at "
        f"{killed_after:.1f} s and restarted): first job done at {first:.1f} s (start-up), "
        f"all done at {elapsed:.1f} s, {duplicates} run twice"
    )


def test_serve_runs_a_worker_unless_told_not_to(formcase: Formcase, tmp_path: Path) -> None:
    formcase.run("db", "upgrade")
    settings = settings_of(formcase)
    record = tmp_path / "ran.txt"
    env = {"FORMCASE_TEST_HANDLERS": "1", "FORMCASE_TEST_HANDLER_FILE": str(record)}
    formcase.serve("--no-worker", env=env)
    [job_id] = add_jobs(settings, 1, sleep=0)
    time.sleep(1.5)
    assert statuses(settings) == {"pending": 1} and recorded(record) == []
    formcase.stop()
    formcase.servers.clear()

    formcase.serve(env=env)
    deadline = time.monotonic() + 20
    while statuses(settings) != {"done": 1}:
        assert time.monotonic() < deadline, statuses(settings)
        time.sleep(0.1)
    assert recorded(record) == [str(job_id)]
    assert os.environ.get("FORMCASE_RUN_WORKER") is None  # the flag did not leak here
