"""The storage interface: write a stream once, read it back by its SHA-256, in ranges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Entry:
    key: str  # the content's SHA-256, or the name of a partial file
    size: int
    modified: datetime
    partial: bool = False


@dataclass(frozen=True)
class StoredFile:
    key: str  # the SHA-256 of the content, hex
    size: int


class Writer(Protocol):
    """A file being written: chunks in, then `commit` (the file appears whole, under its
    hash) or `abort` (nothing remains). Writing past `limit` bytes raises `TooLarge`."""

    size: int

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> StoredFile: ...

    async def abort(self) -> None: ...


class Storage(Protocol):
    def writer(self, limit: int | None = None) -> Writer: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes from `start` up to (not including) `end`."""
        ...

    async def exists(self, key: str) -> bool: ...

    def local_path(self, key: str) -> Path | None:
        """Where the file is on this machine's disk, for a store that has one; else None."""
        ...

    async def delete(self, key: str) -> None: ...

    def entries(self) -> AsyncIterator[Entry]:
        """Every stored file, and its half-written leftovers (`partial`)."""
        ...

    async def remove(self, entry: Entry) -> None: ...

    async def close(self) -> None: ...


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit
