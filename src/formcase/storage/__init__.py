"""Where file contents live: a content-addressed store (local directory; S3 to come)."""

from formcase.storage.base import Entry, Storage, StoredFile, Writer
from formcase.storage.local import LocalStorage

__all__ = ["Entry", "LocalStorage", "Storage", "StoredFile", "Writer", "make_storage"]


def make_storage(url: str | None, data_dir: str) -> Storage:
    if url is None or url.startswith("file://"):
        root = url.removeprefix("file://") if url else f"{data_dir}/files"
        return LocalStorage(root)
    raise ValueError(f"Unsupported storage URL '{url}': use file:///path (S3 is not built yet).")
