"""The worker's periodic collection of stray files (`storage.gc`): leftovers of interrupted
uploads and files no attachment points to go once older than the grace period; an upload in
progress, a fresh leftover and the files of attachments stay. Real workers on an
installation of their own (SQLite or PostgreSQL), local storage and S3 (moto's server)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.app import create_app
from formcase.attachments.jobs import GC_JOB
from formcase.auth import service as tokens
from formcase.config import Settings
from formcase.db.migrate import upgrade
from formcase.events.models import Job
from formcase.kit.time import utcnow
from formcase.storage import Storage, make_storage
from formcase.storage.base import Entry
from formcase.storage.local import LocalStorage
from formcase.storage.s3 import PART, S3Storage
from formcase.worker.jobs import periodic_id
from formcase.worker.runner import Worker
from formcase.workspaces import service as workspaces
from tests.attachments.samples import fetch, upload
from tests.attachments.test_storage_backends import (  # noqa: F401 (a fixture)
    CREDENTIALS,
    new_bucket,
    s3_endpoint,
    store,
)
from tests.conftest import PG_URL, _drop_pg_database, pg_database
from tests.helpers import Tenant

LONG_AGO = time.time() - 3 * 3600
S3_GRACE_SECONDS = 12  # objects in moto cannot be dated back: the old ones wait this long


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A new installation's settings: its own database, so that no other worker (the test
    app's) takes its `storage.gc` job."""
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path, database_url=None, redis_url=None)
        upgrade(settings)
        yield settings
        return
    url = pg_database()
    settings = Settings(data_dir=tmp_path, database_url=url, redis_url=None)
    upgrade(settings)
    yield settings
    _drop_pg_database(PG_URL or url, url)


@pytest.fixture(params=["local", "s3"])
async def installation(
    request: pytest.FixtureRequest,
    database: Settings,
    s3_endpoint: str,  # noqa: F811
) -> Settings:
    if request.param == "local":
        return database
    return database.model_copy(
        update={
            "storage_url": f"s3://{await new_bucket(s3_endpoint)}/files",
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": CREDENTIALS["access_key_id"],
            "s3_secret_access_key": CREDENTIALS["secret_access_key"],
            "s3_region": CREDENTIALS["region"],
            "storage_gc_grace_minutes": S3_GRACE_SECONDS / 60,
        }
    )


@pytest.fixture
async def app(installation: Settings) -> AsyncIterator[Any]:
    """The API without a worker of its own (the test runs the workers)."""
    application = create_app(installation.model_copy(update={"run_worker": False}))
    async with application.router.lifespan_context(application):
        yield application


async def new_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> Tenant:
    slug = f"ws-{secrets.token_hex(4)}"
    async with sessionmaker() as session:
        workspace = await workspaces.create(session, slug, f"Workspace {slug}")
        member = await workspaces.add_member(session, workspace, f"owner@{slug}.example")
        _, secret = await tokens.create_token(session, "test", [slug])
    return Tenant(workspace.id, slug, secret, member.email)


async def listing(storage: Storage) -> list[Entry]:
    return [entry async for entry in storage.entries()]


async def collected(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Two real workers at once until one of them has run the collection: its job is pending
    again, an interval later."""
    workers = [Worker(sessionmaker, settings) for _ in range(2)]
    running = [asyncio.create_task(worker.run()) for worker in workers]
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the collection did not run within 60 s"
            async with sessionmaker() as session:
                job = await session.get(Job, periodic_id(GC_JOB))
                rescheduled = job is not None and job.run_after > utcnow() + timedelta(minutes=30)
                if job is not None and job.status == "pending" and rescheduled:
                    assert job.attempts == 0 and job.last_error is None, job.last_error
                    break
            await asyncio.sleep(0.1)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*running)
    async with sessionmaker() as session:  # one job however many workers
        count = await session.scalar(select(func.count()).where(Job.kind == GC_JOB))
        assert count == 1


async def test_the_worker_collects_old_leftovers_and_orphans_only(
    app: Any, installation: Settings, tmp_path: Path
) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.database.sessionmaker
    storage = make_storage(installation)
    tenant = await new_tenant(sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as client:
        content = b"a real attachment " + os.urandom(16)
        uploaded = await upload(client, tenant, content, "kept.txt")
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()
        orphan = await store(storage, b"nothing points here " + os.urandom(16))

        # an upload interrupted long ago: its writer never finished
        interrupted = storage.writer()
        await interrupted.write(os.urandom(PART + 10))
        if isinstance(storage, LocalStorage):
            await interrupted._settle()  # type: ignore[attr-defined]
            for path in [*(tmp_path / "files" / "tmp").iterdir(), *storage.root.glob("??/??/*")]:
                os.utime(path, (LONG_AGO, LONG_AGO))  # the attachment's file too
            fresh_leftover = tmp_path / "files" / "tmp" / "fresh-leftover"
            fresh_leftover.write_bytes(b"half of something")
        else:
            assert isinstance(storage, S3Storage)
            # a temporary object whose copy under its hash never happened
            s3 = await storage.client()
            await s3.put_object(Bucket=storage.bucket, Key="files/tmp/stale", Body=b"half")
            await asyncio.sleep(S3_GRACE_SECONDS + 1)
            await s3.put_object(Bucket=storage.bucket, Key="files/tmp/fresh-leftover", Body=b"x")
        old = {entry.key for entry in await listing(storage)} - {attachment["metadata"]["sha256"]}
        # an upload in progress, started now
        in_progress = storage.writer()
        in_progress_content = os.urandom(PART + 20)
        await in_progress.write(in_progress_content[: PART + 10])

        await collected(sessionmaker, installation)

        left = {entry.key for entry in await listing(storage)}
        assert orphan in old and not (left & (old - {"fresh-leftover"}))  # the old ones: gone
        assert "fresh-leftover" in left
        assert attachment["metadata"]["sha256"] in left
        downloaded = await fetch(client, tenant, attachment["id"])
        assert downloaded.status_code == 200 and downloaded.content == content
        # the upload in progress goes on and ends whole
        await in_progress.write(in_progress_content[PART + 10 :])
        finished = await in_progress.commit()
        assert b"".join([c async for c in storage.read(finished.key)]) == in_progress_content
    await storage.close()
