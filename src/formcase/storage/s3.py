"""Files in an S3-compatible object store, named by their SHA-256 (`prefix/ab/cd/abcd…`).

Uploads stream as multipart uploads to a temporary key (the hash is known only at the end),
then are copied under their hash and the temporary object deleted, so a key the database
points to only ever holds a whole file. Files under one part go straight to their key.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from formcase.storage.base import Entry, StoredFile, TooLarge

PART = 8 * 1024 * 1024  # S3 wants parts of 5 MiB or more, but the last
COPY_PART = 1024**3


def _missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    # Objects up to this size are copied in one request; S3 allows 5 GiB.
    copy_limit = 5 * 1024**3

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region or "us-east-1",
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None

    async def client(self) -> Any:
        if self._client is None:
            self._stack = contextlib.AsyncExitStack()
            self._client = await self._stack.enter_async_context(
                get_session().create_client("s3", **self.options)
            )
        return self._client

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._stack, self._client = None, None

    def key_of(self, digest: str) -> str:
        return f"{self.prefix}{digest[:2]}/{digest[2:4]}/{digest}"

    def writer(self, limit: int | None = None) -> S3Writer:
        return S3Writer(self, limit)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        client = await self.client()
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_of(key)}
        if start or end is not None:
            if end is not None and end <= start:
                return
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        response = await client.get_object(**request)
        async with response["Body"] as body:
            while chunk := await body.read(1024 * 1024):
                yield chunk

    def local_path(self, key: str) -> None:
        return None

    async def exists(self, key: str) -> bool:
        return await self._exists(self.key_of(key))

    async def _exists(self, object_key: str) -> bool:
        client = await self.client()
        try:
            await client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as error:
            if _missing(error):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        client = await self.client()
        await client.delete_object(Bucket=self.bucket, Key=self.key_of(key))

    async def entries(self) -> AsyncIterator[Entry]:
        client = await self.client()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(self.prefix) :]
                name = relative.rsplit("/", 1)[-1]
                partial = relative.startswith("tmp/")
                if partial or len(name) == 64:
                    yield Entry(name, item["Size"], item["LastModified"], partial)
        uploads = await client.list_multipart_uploads(
            Bucket=self.bucket, Prefix=f"{self.prefix}tmp/"
        )
        for upload in uploads.get("Uploads", []):
            name = f"{upload['Key'].rsplit('/', 1)[-1]}:{upload['UploadId']}"
            # An upload is as old as its last part: a long one still sending is not stale.
            latest, size = upload["Initiated"], 0
            pages = client.get_paginator("list_parts").paginate(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
            async for page in pages:
                for part in page.get("Parts", []):
                    latest, size = max(latest, part["LastModified"]), size + part["Size"]
            yield Entry(name, size, latest, True)

    async def remove(self, entry: Entry) -> None:
        client = await self.client()
        if not entry.partial:
            await self.delete(entry.key)
        elif ":" in entry.key:  # an unfinished multipart upload
            name, upload_id = entry.key.split(":", 1)
            await client.abort_multipart_upload(
                Bucket=self.bucket, Key=f"{self.prefix}tmp/{name}", UploadId=upload_id
            )
        else:
            await client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}tmp/{entry.key}")


class S3Writer:
    def __init__(self, storage: S3Storage, limit: int | None) -> None:
        self.storage = storage
        self.limit = limit
        self.size = 0
        self.hash = hashlib.sha256()
        self.buffer = bytearray()
        self.temp = f"{storage.prefix}tmp/{uuid.uuid4().hex}"
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(self.limit)
        self.hash.update(chunk)
        self.buffer += chunk
        while len(self.buffer) >= PART:
            await self._send_part(bytes(self.buffer[:PART]))
            del self.buffer[:PART]

    async def _send_part(self, data: bytes) -> None:
        client = await self.storage.client()
        bucket = self.storage.bucket
        if self.upload_id is None:
            created = await client.create_multipart_upload(Bucket=bucket, Key=self.temp)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        sent = await client.upload_part(
            Bucket=bucket, Key=self.temp, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def commit(self) -> StoredFile:
        client = await self.storage.client()
        bucket = self.storage.bucket
        digest = self.hash.hexdigest()
        final = self.storage.key_of(digest)
        if self.upload_id is None:  # one part: straight to its key
            if not await self.storage._exists(final):
                await client.put_object(Bucket=bucket, Key=final, Body=bytes(self.buffer))
            return StoredFile(key=digest, size=self.size)
        if self.buffer:
            await self._send_part(bytes(self.buffer))
            self.buffer.clear()
        await client.complete_multipart_upload(
            Bucket=bucket,
            Key=self.temp,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts},
        )
        self.upload_id = None
        try:
            if not await self.storage._exists(final):
                await self._copy(client, final)
        finally:
            await client.delete_object(Bucket=bucket, Key=self.temp)
        return StoredFile(key=digest, size=self.size)

    async def _copy(self, client: Any, final: str) -> None:
        bucket = self.storage.bucket
        source = {"Bucket": bucket, "Key": self.temp}
        if self.size <= self.storage.copy_limit:
            await client.copy_object(Bucket=bucket, Key=final, CopySource=source)
            return
        created = await client.create_multipart_upload(Bucket=bucket, Key=final)
        parts = []
        try:
            for number, start in enumerate(range(0, self.size, COPY_PART), start=1):
                end = min(self.size, start + COPY_PART) - 1
                copied = await client.upload_part_copy(
                    Bucket=bucket,
                    Key=final,
                    UploadId=created["UploadId"],
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"ETag": copied["CopyPartResult"]["ETag"], "PartNumber": number})
            await client.complete_multipart_upload(
                Bucket=bucket,
                Key=final,
                UploadId=created["UploadId"],
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            await client.abort_multipart_upload(
                Bucket=bucket, Key=final, UploadId=created["UploadId"]
            )
            raise

    async def abort(self) -> None:
        if self.upload_id is not None:
            client = await self.storage.client()
            await client.abort_multipart_upload(
                Bucket=self.storage.bucket, Key=self.temp, UploadId=self.upload_id
            )
            self.upload_id = None
