"""The storage's upkeep: orphan sweep and re-hash check (the CLI: tests/e2e)."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.attachments import service
from formcase.storage import LocalStorage
from formcase.storage.local import path_of
from tests.attachments.samples import upload
from tests.helpers import Tenant

HOUR_AGO = time.time() - 3600 * 2


async def put(storage: LocalStorage, content: bytes) -> str:
    writer = storage.writer()
    await writer.write(content)
    return (await writer.commit()).key


def age(path: Path) -> None:
    os.utime(path, (HOUR_AGO, HOUR_AGO))


async def test_sweep_removes_old_orphans_and_leftovers_only(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    kept = b"referenced " + os.urandom(8)
    assert (await upload(client, tenant, kept, "kept.txt")).status_code == 201
    referenced = await put(storage, kept)
    old_orphan = await put(storage, b"orphan " + os.urandom(8))
    young_orphan = await put(storage, b"young " + os.urandom(8))
    leftover = tmp_path / "tmp" / "interrupted-upload"
    leftover.write_bytes(b"half")
    for key in (referenced, old_orphan):
        age(path_of(tmp_path, key))
    age(leftover)

    async with sessionmaker() as session:
        dry = await service.sweep_orphans(session, storage, timedelta(hours=1), dry_run=True)
    assert sorted(dry.removed) == sorted([old_orphan, "partial interrupted-upload"])
    assert path_of(tmp_path, old_orphan).exists()  # a dry run removes nothing

    async with sessionmaker() as session:
        swept = await service.sweep_orphans(session, storage, timedelta(hours=1))
    assert sorted(swept.removed) == sorted(dry.removed) and swept.kept_young == 1
    assert not path_of(tmp_path, old_orphan).exists() and not leftover.exists()
    assert path_of(tmp_path, referenced).exists() and path_of(tmp_path, young_orphan).exists()


async def test_verify_reports_altered_and_missing_files(
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path)
    intact, altered = b"intact " + os.urandom(8), b"altered " + os.urandom(8)
    for content in (intact, altered):
        assert (await upload(client, tenant, content, "f.bin")).status_code == 201
        await put(storage, content)
    altered_key = hashlib.sha256(altered).hexdigest()
    path_of(tmp_path, altered_key).write_bytes(b"tampered")
    async with sessionmaker() as session:
        problems = await service.verify_files(session, storage)
    by_key = {problem.split(":")[0]: problem for problem in problems}
    assert hashlib.sha256(intact).hexdigest() not in by_key
    assert "content hashes to" in by_key[altered_key]
    assert any(problem.endswith(": missing") for problem in problems)  # other tests' files
