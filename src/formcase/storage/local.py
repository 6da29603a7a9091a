"""Files in a local directory, named by their SHA-256 (`ab/cd/abcd…`).

A file is written to `tmp/` and renamed into place only when complete, so a crash never leaves
a half file under a name the database could point to; identical contents are stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread

from formcase.storage.base import Entry, StoredFile, TooLarge

CHUNK = 1 << 20
# While the worker writes one batch, up to this much waits in memory for the next.
MAX_WAITING = 16 << 20
# The worker pushes written data to the disk every so often, so that the final fsync
# (which durability needs before the file gets its name) has little left to do.
SYNC_EVERY = 64 << 20


class LocalWriter:
    """Hashes, writes and syncs in a worker thread, one batch while the next arrives: the
    event loop only hands chunks over, and SHA-256 and the disk run beside it."""

    def __init__(self, root: Path, limit: int | None) -> None:
        self.root = root
        self.limit = limit
        self.size = 0
        self.hash = hashlib.sha256()
        self.temp = root / "tmp" / uuid.uuid4().hex
        self.file: IO[bytes] | None = None
        self.batch: list[bytes] = []
        self.batch_size = 0
        self.in_flight: asyncio.Future[None] | None = None
        self.unsynced = 0

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(self.limit)
        self.batch.append(chunk)
        self.batch_size += len(chunk)
        worker_idle = self.in_flight is None or self.in_flight.done()
        if (self.batch_size >= CHUNK and worker_idle) or self.batch_size >= MAX_WAITING:
            await self._hand_over()

    async def _hand_over(self) -> None:
        await self._settle()
        batch, self.batch, self.batch_size = self.batch, [], 0
        self.in_flight = asyncio.get_running_loop().run_in_executor(None, self._write_sync, batch)

    async def _settle(self) -> None:
        if self.in_flight is not None:
            in_flight, self.in_flight = self.in_flight, None
            await in_flight

    def _write_sync(self, batch: list[bytes]) -> None:
        if self.file is None:
            self.temp.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.temp, "wb")  # noqa: SIM115 (closed in commit/abort)
        for chunk in batch:
            self.hash.update(chunk)
            self.file.write(chunk)
            self.unsynced += len(chunk)
        if self.unsynced >= SYNC_EVERY:
            self.file.flush()
            os.fdatasync(self.file.fileno())
            self.unsynced = 0

    async def commit(self) -> StoredFile:
        await self._hand_over()
        await self._settle()
        key = self.hash.hexdigest()
        await anyio.to_thread.run_sync(self._commit_sync, key)
        return StoredFile(key=key, size=self.size)

    def _commit_sync(self, key: str) -> None:
        assert self.file is not None
        self.file.flush()
        os.fsync(self.file.fileno())  # on disk before it has a name the database can use
        self.file.close()
        final = path_of(self.root, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.temp, final)

    async def abort(self) -> None:
        with contextlib.suppress(Exception):
            await self._settle()
        await anyio.to_thread.run_sync(self._abort_sync)

    def _abort_sync(self) -> None:
        if self.file is not None:
            self.file.close()
        self.temp.unlink(missing_ok=True)


def path_of(root: Path, key: str) -> Path:
    return root / key[:2] / key[2:4] / key


class LocalStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def writer(self, limit: int | None = None) -> LocalWriter:
        return LocalWriter(self.root, limit)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async with await anyio.open_file(path_of(self.root, key), "rb") as file:
            await file.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                chunk = await file.read(CHUNK if remaining is None else min(CHUNK, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def local_path(self, key: str) -> Path:
        return path_of(self.root, key)

    async def exists(self, key: str) -> bool:
        return await anyio.Path(path_of(self.root, key)).is_file()

    async def delete(self, key: str) -> None:
        await anyio.Path(path_of(self.root, key)).unlink(missing_ok=True)

    async def entries(self) -> AsyncIterator[Entry]:
        found = await anyio.to_thread.run_sync(self._entries_sync)
        for entry in found:
            yield entry

    def _entries_sync(self) -> list[Entry]:
        def entry(path: Path, partial: bool) -> Entry:
            stat = path.stat()
            return Entry(
                path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), partial
            )

        stored = [entry(p, False) for p in self.root.glob("??/??/*") if len(p.name) == 64]
        partial = [entry(p, True) for p in (self.root / "tmp").glob("*")]
        return stored + partial

    async def close(self) -> None:
        pass

    async def remove(self, entry: Entry) -> None:
        path = self.root / "tmp" / entry.key if entry.partial else path_of(self.root, entry.key)
        try:
            modified = datetime.fromtimestamp((await anyio.Path(path).stat()).st_mtime, UTC)
        except FileNotFoundError:
            return
        if modified > entry.modified:
            return  # written again since it was listed (the same content uploaded anew)
        await anyio.Path(path).unlink(missing_ok=True)
