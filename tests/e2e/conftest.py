"""Real `formcase` processes: the CLI as a new user runs it, and servers on free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_URL, _drop_pg_database, pg_database

BIN = Path(sys.executable).parent / "formcase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Formcase:
    """Runs `formcase …` with one environment (one database, one data dir)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.servers: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"formcase {' '.join(args)} failed:\n{result.stderr}")
        return result

    def serve(self, *args: str, env: dict[str, str] | None = None, port: int = 0) -> str:
        """Start `formcase serve` (on a free port unless given); returns its base URL once it
        answers."""
        port = port or free_port()
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), *args],
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.servers.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("server did not start within 30 s")

    def stop(self) -> None:
        for process in self.servers:
            process.terminate()
        for process in self.servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMCASE_")}
    env["FORMCASE_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def formcase(tmp_path: Path) -> Iterator[Formcase]:
    """A new installation on SQLite, as `make serve` makes it."""
    runner = Formcase(_base_env(tmp_path))
    yield runner
    runner.stop()


@pytest.fixture
def formcase_pg(tmp_path: Path) -> Iterator[Formcase]:
    """A new installation on a fresh PostgreSQL database."""
    url = pg_database()
    runner = Formcase({**_base_env(tmp_path), "FORMCASE_DATABASE_URL": url})
    yield runner
    runner.stop()
    _drop_pg_database(PG_URL or url, url)


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


SetUp = Callable[[Formcase], str]
