"""Oversized and malformed bodies against a real server: each is refused with a 4xx that says
why, the server's memory (psutil) stays where it was, and a normal request answers after."""

from __future__ import annotations

import socket
import uuid
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from tests.e2e.conftest import Formcase
from tests.e2e.test_large_files import PeakRSS
from tests.e2e.test_server import set_up

pytestmark = pytest.mark.e2e

MB = 1024**2
NO_LINK = f"/f/{uuid.uuid4().hex}/api/steps/one"  # unauthenticated, and no such form


def rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def still_answers(url: str, token: str) -> None:
    """A normal request right after (a generous timeout; no speed is asserted)."""
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.get(f"{url}/v1/forms", headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def raw_post(url: str, path: str, headers: str, body: bytes) -> bytes:
    """Send a request's head and the first part of its body; what the server answers."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_bodies_are_refused_unread(formcase: Formcase) -> None:
    token = set_up(formcase)
    url = formcase.serve()
    pid = formcase.servers[-1].pid
    still_answers(url, token)
    before = rss(pid)
    with PeakRSS(pid) as memory:
        # 300 MB announced, 1 MB sent: the answer comes without the rest being read.
        announced = raw_post(
            url,
            "/v1/forms",
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {300 * MB}\r\n",
            b'{"external_args": {"x": "' + b"a" * MB,
        )
        assert announced.startswith(b"HTTP/1.1 413 "), announced[:300]
        assert b"limit of 1048576 bytes (FORMCASE_MAX_BODY_BYTES)" in announced
        # Chunked, without a length, to the fill API (no token): refused once over the limit.
        chunk = b"a" * (256 * 1024)
        chunked = raw_post(
            url,
            NO_LINK,
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)),
        )
        assert chunked.startswith(b"HTTP/1.1 413 "), chunked[:300]
    assert memory.peak - before < 30 * MB  # nothing of the bodies was kept
    still_answers(url, token)


def test_refused_json_leaves_nothing_in_memory(formcase: Formcase) -> None:
    """Bodies that are not JSON, or not the expected JSON, are let go as soon as they are
    answered: before, each stayed in memory at twice its size until a full collection."""
    token = set_up(formcase)
    # A raised limit, to send a few large bodies rather than many small ones.
    url = formcase.serve(env={"FORMCASE_MAX_BODY_BYTES": str(64 * MB)})
    pid = formcase.servers[-1].pid
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    still_answers(url, token)
    broken = b'{"data": "' + b"x" * (50 * MB)  # not JSON: the string never ends
    wrong = b'{"flow": {"slug": ["' + b"x" * (50 * MB) + b'"]}}'  # JSON, a list for a string
    before = rss(pid)
    with httpx.Client(timeout=120) as client:
        for _ in range(3):
            response = client.post(url + NO_LINK, content=broken, headers=headers)
            assert response.status_code == 400 and "not valid JSON" in response.text
            response = client.post(f"{url}/v1/forms", content=wrong, headers=headers)
            assert response.status_code == 400 and "flow.slug" in response.text
    # 300 MB refused; kept, they were ~600 MB. What stays is the allocator's, not the bodies.
    assert rss(pid) - before < 120 * MB
    still_answers(url, token)


def test_a_multipart_upload_with_many_fields_is_refused(formcase: Formcase) -> None:
    token = set_up(formcase)
    url = formcase.serve()
    pid = formcase.servers[-1].pid
    still_answers(url, token)
    fields = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nvalue\r\n' % i
        for i in range(50_000)
    )
    body = fields + (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        b"hello\r\n--b--\r\n"
    )
    before = rss(pid)
    with PeakRSS(pid) as memory:
        response = httpx.post(
            f"{url}/v1/attachments",
            content=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "multipart/form-data; boundary=b",
            },
            timeout=60,
        )
    assert response.status_code == 400, response.text
    assert "at most 16 fields" in response.json()["message"]
    assert memory.peak - before < 30 * MB  # was +170 MB
    still_answers(url, token)
