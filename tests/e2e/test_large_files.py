"""A 1 GB file through a real server: uploaded and downloaded as streams, so the server's
memory stays flat (psutil samples its resident set size throughout); a server killed
mid-upload, and the worker collecting what it left."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


KILLED_SIZE = 200 * 1024**2
KILL_AFTER = 100 * 1024**2


@pytest.mark.parametrize("installation", ["formcase", "formcase_pg"])
def test_a_server_killed_mid_upload_leaves_a_partial_file_the_worker_collects(
    request: pytest.FixtureRequest, installation: str
) -> None:
    """The issue's case, smaller: a server killed mid-upload leaves no attachment and a
    partial file; once that is older than the grace period a worker removes it, and leaves a
    fresh leftover and an attachment's file alone."""
    formcase: Formcase = request.getfixturevalue(installation)
    token = set_up(formcase)
    every_3_s = {"FORMCASE_STORAGE_GC_INTERVAL_MINUTES": "0.05"}
    url = formcase.serve(env=every_3_s)
    server = formcase.servers[-1]
    headers = {"Authorization": f"Bearer {token}"}
    files = Path(formcase.env["FORMCASE_DATA_DIR"]) / "files"
    kept = httpx.post(
        f"{url}/v1/attachments",
        files={"file": ("kept.txt", b"an attachment", "text/plain")},
        headers=headers,
    )
    assert kept.status_code == 201, kept.text

    sent_enough = threading.Event()

    def body() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
        for sent in range(0, KILLED_SIZE, len(BLOCK)):
            if sent >= KILL_AFTER:
                sent_enough.set()
            yield BLOCK
        yield b"\r\n--b--\r\n"

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"{url}/v1/attachments",
                content=body(),
                headers={**headers, "Content-Type": "multipart/form-data; boundary=b"},
                timeout=120,
            )

    sender = threading.Thread(target=send)
    sender.start()
    assert sent_enough.wait(120)
    deadline = time.monotonic() + 30
    while not any(path.stat().st_size > 0 for path in (files / "tmp").glob("*")):
        assert time.monotonic() < deadline, "no partial file while uploading"
        time.sleep(0.05)
    server.kill()
    server.wait()
    sender.join()
    [partial] = (files / "tmp").iterdir()
    assert partial.stat().st_size > 0
    long_ago = time.time() - 3 * 3600
    os.utime(partial, (long_ago, long_ago))
    for stored in files.glob("??/??/*"):  # the attachment's file, as old
        os.utime(stored, (long_ago, long_ago))
    fresh = files / "tmp" / "fresh-leftover"
    fresh.write_bytes(b"an upload that has just begun")

    url = formcase.serve(env=every_3_s)
    deadline = time.monotonic() + 60
    while partial.exists():
        assert time.monotonic() < deadline, "the partial file is still there after 60 s"
        time.sleep(0.2)
    assert fresh.exists()
    download = httpx.get(
        f"{url}/v1/attachments/{kept.json()['id']}",
        headers={**headers, "Accept": "application/octet-stream"},
    )
    assert download.content == b"an attachment"
