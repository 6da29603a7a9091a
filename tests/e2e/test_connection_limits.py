"""What a client may make a `formcase serve` process hold before its request reaches the app:
header size and count (431), the time to send headers (408, closed), open connections (a cap,
over which new ones wait). Each test sends the hostile input to a real server, then checks the
answer, the server's memory or open files, and that a normal request still answers."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time

import httpx
import psutil
import pytest

from tests.e2e.conftest import Formcase, free_port

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


def _serve(formcase: Formcase, **env: str) -> tuple[str, int, subprocess.Popen[bytes]]:
    formcase.run("db", "upgrade")
    port = free_port()
    url = formcase.serve(port=port, env=env)
    return url, port, formcase.servers[-1]


def _rss(server: subprocess.Popen[bytes]) -> int:
    rss: int = psutil.Process(server.pid).memory_info().rss  # one process: uvicorn's own
    return rss


def _answers_normally(url: str, timeout: float = 10) -> None:
    answer = httpx.get(f"{url}/healthz", timeout=timeout)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def _send_head(port: int, head: bytes) -> bytes:
    """Sends `head` in 1 MB pieces, stopping where the server closes; returns its answer (b""
    if the server's close reset the connection before the answer was read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        try:
            for start in range(0, len(head), MiB):
                connection.sendall(head[start : start + MiB])
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def _refused_431(answer: bytes) -> dict[str, object]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    error: dict[str, object] = json.loads(body)
    assert error["statusCode"] == 431 and error["error"] == "Request Header Fields Too Large"
    return error


def test_oversized_header_lines_and_too_many_fields_are_refused(formcase: Formcase) -> None:
    url, port, server = _serve(formcase)
    for _ in range(20):  # the first requests' allocations are not the attack's
        _answers_normally(url)
    before = _rss(server)

    line = _send_head(
        port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MiB + b"\r\n\r\n"
    )
    assert "65536 bytes" in str(_refused_431(line)["message"])
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(10_000))
    fields = _send_head(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert "100 header fields" in str(_refused_431(fields)["message"])
    url_line = _send_head(port, b"GET /healthz?" + b"a" * MiB + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    _refused_431(url_line)
    # 64 MB of one header line: refused after the first 64 KB (the answer may be lost to the
    # connection's reset: the server closes with the rest unread)
    huge = _send_head(port, b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 64 * MiB + b"\r\n\r\n")
    assert huge == b"" or huge.startswith(b"HTTP/1.1 431 "), huge[:200]

    _answers_normally(url)
    grown = _rss(server) - before
    assert grown < 16 * MiB, f"the server grew by {grown / MiB:.0f} MB"
    # what real clients send passes: 100 fields (httpx adds 5), a 60 KB cookie
    allowed = {f"x-field-{i}": "1" for i in range(94)} | {"cookie": "c" * 60_000}
    assert httpx.get(f"{url}/healthz", headers=allowed, timeout=10).status_code == 200

    server.terminate()
    said = server.communicate(timeout=30)[1].decode()
    assert "refused a request from 127.0.0.1" in said, said


def test_slow_clients_are_closed_and_capped(formcase: Formcase) -> None:
    url, port, server = _serve(
        formcase, FORMCASE_MAX_CONNECTIONS="50", FORMCASE_HEADER_TIMEOUT_SECONDS="1"
    )
    process = psutil.Process(server.pid)
    files_before = process.num_fds()
    slow: list[socket.socket] = []
    try:
        for _ in range(300):  # each starts a request, then sends one byte now and then
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.setblocking(False)
            slow.append(connection)
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"X"):
            for connection in slow:
                with contextlib.suppress(OSError):  # closed by the server already
                    connection.send(piece)
            time.sleep(0.2)
        # the server holds at most the cap (and a few files of its own), the rest wait in the
        # listening socket's backlog
        assert process.num_fds() - files_before <= 55
        # behind the slow ones in the backlog, each let in for 1 s: 300 / 50 rounds of it
        _answers_normally(url, timeout=30)

        # every slow connection was answered 408 and closed, or closed while idle
        deadline = time.monotonic() + 60
        open_ones = list(slow)
        while open_ones:
            assert time.monotonic() < deadline, f"{len(open_ones)} slow connections still open"
            still = []
            for connection in open_ones:
                try:
                    answer = connection.recv(65536)
                except BlockingIOError:
                    still.append(connection)
                    continue
                except ConnectionResetError:
                    continue
                assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            open_ones = still
            time.sleep(0.1)
    finally:
        for connection in slow:
            connection.close()
    _answers_normally(url)

    server.terminate()
    said = server.communicate(timeout=30)[1].decode()
    assert "holding 50 connections, the most FORMCASE_MAX_CONNECTIONS allows" in said, said
    assert "no complete headers within 1 s" in said, said
