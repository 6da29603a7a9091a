"""`formcase serve --workers N`: its processes share new connections out evenly."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from tests.e2e.conftest import Formcase, free_port


def _connections_by_process(server: subprocess.Popen[bytes], port: int) -> list[int]:
    counts = []
    for child in psutil.Process(server.pid).children(recursive=True):
        held = [
            c
            for c in child.net_connections("tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
        ]
        if held:
            counts.append(len(held))
    return sorted(counts)


def _keep_alive_connections(port: int, number: int) -> list[socket.socket]:
    """`number` connections opened at once (as `wrk` opens its own), each then asked for one
    answer and left open."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(number)]
    for connection in opened:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: formcase.test\r\n\r\n")
    for connection in opened:
        assert connection.recv(4096).startswith(b"HTTP/1.1 200"), "a connection had no answer"
    return opened


def _wait_until_started(server: subprocess.Popen[bytes], processes: int) -> None:
    """Until each process has said its app started (one answering is not all of them)."""
    assert server.stderr is not None
    said, deadline = b"", time.monotonic() + 60
    while said.count(b"Application startup complete") < processes:
        assert time.monotonic() < deadline, f"the processes said: {said.decode()}"
        if select.select([server.stderr], [], [], 1)[0]:
            said += os.read(server.stderr.fileno(), 65536)  # unbuffered: select sees it all


def test_two_processes_hold_the_same_number_of_connections(
    formcase: Formcase, tmp_path: Path
) -> None:
    formcase.run("db", "upgrade")
    port, temporary = free_port(), tmp_path / "tmp"
    temporary.mkdir()
    # A process leaves a connection to the other for up to 10 ms by default; on a busy machine
    # the other is not always scheduled that soon (CI once saw 5/11), so here it gets 2 s.
    env = {"TMPDIR": str(temporary), "FORMCASE_SERVE_LEAVE_MS": "2000"}
    formcase.serve("--workers", "2", port=port, env=env)
    server = formcase.servers[-1]
    _wait_until_started(server, 2)
    assert any(path.suffix == ".table" for path in temporary.iterdir())
    opened = _keep_alive_connections(port, 16)
    try:
        deadline = time.monotonic() + 10
        while sum(counts := _connections_by_process(server, port)) < 16:
            assert time.monotonic() < deadline, f"connections held: {counts}"
            time.sleep(0.1)
        # Each takes a connection while it holds at most one more than the other; uvicorn's
        # own accepting gave 2/14 on an earlier machine, 6/10 on a later one.
        assert counts in ([8, 8], [7, 9]), counts
    finally:
        for connection in opened:
            connection.close()
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    said = server.stderr.read()  # type: ignore[union-attr]
    assert said.count(b"Application shutdown complete") == 2 and b"Traceback" not in said, said
    assert not any(path.suffix == ".table" for path in temporary.iterdir()), "it outlived serve"
