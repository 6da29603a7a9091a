"""A 1 GB file through a real server: uploaded and downloaded as streams, so the server's
memory stays flat (psutil samples its resident set size throughout)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.e2e.conftest import Formcase
from tests.e2e.test_server import set_up

pytestmark = pytest.mark.e2e

SIZE = 1024**3
BLOCK = os.urandom(1024 * 1024)
BOUND = 100 * 1024**2  # "a few tens of MB", generously


class PeakRSS:
    """Samples a process's resident set size every 20 ms while in use."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self.peak = self.process.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def multipart_body(boundary: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    for _ in range(SIZE // len(BLOCK)):
        yield BLOCK
    yield f"\r\n--{boundary}--\r\n".encode()


def test_one_gigabyte_up_and_down_in_flat_memory(formcase: Formcase) -> None:
    token = set_up(formcase)
    url = formcase.serve()
    server = formcase.servers[-1].pid
    headers = {"Authorization": f"Bearer {token}"}
    expected = hashlib.sha256()
    for _ in range(SIZE // len(BLOCK)):
        expected.update(BLOCK)
    with httpx.Client(timeout=600) as client:
        client.get(f"{url}/v1/workspaces", headers=headers)  # warm up
        before = psutil.Process(server).memory_info().rss
        with PeakRSS(server) as upload_memory:
            response = client.post(
                f"{url}/v1/attachments",
                content=multipart_body("xyzzy"),
                headers={**headers, "Content-Type": "multipart/form-data; boundary=xyzzy"},
            )
        assert response.status_code == 201, response.text
        attachment = response.json()
        assert attachment["metadata"]["size"] == SIZE
        assert attachment["metadata"]["sha256"] == expected.hexdigest()

        received = hashlib.sha256()
        length = 0
        with (
            PeakRSS(server) as download_memory,
            client.stream(
                "GET",
                f"{url}/v1/attachments/{attachment['id']}",
                headers={**headers, "Accept": "application/octet-stream"},
            ) as download,
        ):
            assert download.headers["content-length"] == str(SIZE)
            for chunk in download.iter_bytes(1024 * 1024):
                received.update(chunk)
                length += len(chunk)
    assert length == SIZE and received.hexdigest() == expected.hexdigest()
    upload_growth = upload_memory.peak - before
    download_growth = download_memory.peak - before
    print(
        f"server RSS before {before >> 20} MiB; peak growth upload "
        f"{upload_growth >> 20} MiB, download {download_growth >> 20} MiB"
    )
    assert upload_growth < BOUND, upload_growth
    assert download_growth < BOUND, download_growth
