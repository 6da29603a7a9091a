"""Where file contents live: a content-addressed store, in a local directory or in an
S3-compatible object store."""

from urllib.parse import urlsplit

from formcase.config import Settings
from formcase.storage.base import Entry, Storage, StoredFile, Writer
from formcase.storage.local import LocalStorage

__all__ = ["Entry", "LocalStorage", "Storage", "StoredFile", "Writer", "make_storage"]


def make_storage(settings: Settings) -> Storage:
    url = settings.storage_url
    if url is None:
        return LocalStorage(settings.data_dir / "files")
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(parts.path)
    if parts.scheme == "s3" and parts.netloc:
        # imported only when used: aiobotocore takes a second to import, in every process
        from formcase.storage.s3 import S3Storage

        return S3Storage(
            parts.netloc,
            parts.path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    raise ValueError(
        f"FORMCASE_STORAGE_URL '{url}' is neither file:///path nor s3://bucket/prefix."
    )
