"""The storage contract, on the local directory and on S3.

S3 here is moto's server (an S3 emulator speaking the S3 HTTP API on a local port): no real
S3-compatible server can be installed on this machine, so the S3 backend is tested against
that emulator."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from moto.server import ThreadedMotoServer

from formcase.app import create_app
from formcase.config import Settings
from formcase.storage import LocalStorage, Storage, make_storage
from formcase.storage.base import Entry, TooLarge
from formcase.storage.s3 import PART, S3Storage
from tests.attachments.samples import fetch, pdf, upload
from tests.helpers import Tenant

CREDENTIALS = {"access_key_id": "test", "secret_access_key": "test", "region": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


async def new_bucket(endpoint: str) -> str:
    bucket = f"formcase-{secrets.token_hex(4)}"
    storage = S3Storage(bucket, endpoint_url=endpoint, **CREDENTIALS)
    await (await storage.client()).create_bucket(Bucket=bucket)
    await storage.close()
    return bucket


@pytest.fixture(params=["local", "s3"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str
) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path)
        return
    backend = S3Storage(
        await new_bucket(s3_endpoint), "some/prefix", endpoint_url=s3_endpoint, **CREDENTIALS
    )
    yield backend
    await backend.close()


async def store(storage: Storage, content: bytes, piece: int = 65536) -> str:
    writer = storage.writer()
    for start in range(0, len(content), piece):
        await writer.write(content[start : start + piece])
    return (await writer.commit()).key


async def read(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start, end)])


@pytest.mark.parametrize("size", [1, 1000, PART * 2 + 12345])  # one part, and several
async def test_round_trip_and_ranges(storage: Storage, size: int) -> None:
    content = os.urandom(size)
    key = await store(storage, content)
    assert key == hashlib.sha256(content).hexdigest()
    assert await storage.exists(key)
    assert await read(storage, key) == content
    assert await read(storage, key, size // 2) == content[size // 2 :]
    assert await read(storage, key, 0, min(size, 10)) == content[:10]
    assert await read(storage, key, size // 3, size // 2) == content[size // 3 : size // 2]
    entries = [entry async for entry in storage.entries()]
    assert [(e.key, e.size, e.partial) for e in entries] == [(key, size, False)]
    assert await store(storage, content) == key  # the same content again: still one file
    assert len([entry async for entry in storage.entries()]) == 1
    await storage.delete(key)
    assert not await storage.exists(key)


async def test_abort_and_limit_leave_nothing(storage: Storage) -> None:
    writer = storage.writer()
    await writer.write(os.urandom(PART + 10))  # past one part: an upload is under way
    await writer.abort()
    limited = storage.writer(limit=100)
    await limited.write(b"x" * 100)
    with pytest.raises(TooLarge):
        await limited.write(b"y")
    await limited.abort()
    assert [entry async for entry in storage.entries()] == []


async def leftovers_of_an_upload_under_way(storage: Storage) -> list[Entry]:
    """What a crash now would leave behind. S3's writer has sent its first part when `write`
    returns; the local one has handed its data to a thread, which creates the file a moment
    later (CI once listed nothing), so this waits for it."""
    deadline = time.monotonic() + 10
    while not (found := [entry async for entry in storage.entries()]):
        assert time.monotonic() < deadline, "the upload under way left nothing"
        await asyncio.sleep(0.01)
    return found


async def test_leftovers_are_listed_and_removable(storage: Storage) -> None:
    writer = storage.writer()
    await writer.write(os.urandom(PART + 10))
    leftovers = await leftovers_of_an_upload_under_way(storage)
    assert len(leftovers) == 1 and leftovers[0].partial
    await storage.remove(leftovers[0])
    assert [entry async for entry in storage.entries()] == []


async def test_large_files_are_copied_in_parts(tmp_path: Path, s3_endpoint: str) -> None:
    backend = S3Storage(await new_bucket(s3_endpoint), endpoint_url=s3_endpoint, **CREDENTIALS)
    backend.copy_limit = PART  # the > 5 GiB path, on a file of a few parts
    content = os.urandom(PART * 3)
    try:
        key = await store(backend, content, piece=PART)
        assert await read(backend, key) == content
    finally:
        await backend.close()


@pytest.fixture
async def s3_client(settings: Settings, s3_endpoint: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app storing its files in S3."""
    bucket = await new_bucket(s3_endpoint)
    app = create_app(
        settings.model_copy(
            update={
                "storage_url": f"s3://{bucket}/attachments",
                "s3_endpoint_url": s3_endpoint,
                "s3_access_key_id": "test",
                "s3_secret_access_key": "test",
                "s3_region": "us-east-1",
            }
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
            yield c


async def test_the_api_on_s3(s3_client: httpx.AsyncClient, tenant: Tenant) -> None:
    big = os.urandom(PART * 2 + 5)
    uploaded = await upload(s3_client, tenant, big, "big.bin")
    assert uploaded.status_code == 201, uploaded.text
    attachment_id = uploaded.json()["id"]
    assert (await fetch(s3_client, tenant, attachment_id)).content == big
    part = await fetch(s3_client, tenant, attachment_id, Range="bytes=100-199")
    assert part.status_code == 206 and part.content == big[100:200]
    ids = [
        (await upload(s3_client, tenant, pdf(size), f"{size}.pdf")).json()["id"]
        for size in (100, 200)
    ]
    merged = await s3_client.get(f"/v1/attachments?ids={','.join(ids)}", headers=tenant.headers)
    assert merged.status_code == 200 and merged.headers["x-page-count"] == "2"


def test_storage_settings(tmp_path: Path) -> None:
    assert isinstance(make_storage(Settings(data_dir=tmp_path)), LocalStorage)
    s3 = make_storage(Settings(storage_url="s3://bucket/a/b", s3_endpoint_url="http://x"))
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "a/b/")
    with pytest.raises(ValueError, match="neither file"):
        make_storage(Settings(storage_url="ftp://nope"))
