"""What the suite needs of its machine, and what it does without it (README, "Tests").

A new contributor's clone has a PostgreSQL server but perhaps not the database the URL names;
CI must never pass a run that skipped PostgreSQL or Redis. These run pytest itself, in a
subprocess, on one small test, the way `make test` would.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, unavailable

ROOT = Path(__file__).parents[1]


def server_url() -> str:
    """FORMCASE_TEST_DATABASE_URL without its database name."""
    if not PG_URL:
        unavailable("PostgreSQL runs skipped: FORMCASE_TEST_DATABASE_URL is not set")
    return PG_URL.rsplit("/", 1)[0]


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {key: value for key, value in os.environ.items() if key != "CI"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result


def test_postgresql_runs_when_the_database_in_the_url_does_not_exist() -> None:
    missing = f"{server_url()}/formcase_missing_{secrets.token_hex(4)}"
    result = run_pytest(
        "tests/test_app.py::test_health", "-k", "postgresql", FORMCASE_TEST_DATABASE_URL=missing
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "skipped" not in result.stdout, result.stdout


@pytest.mark.parametrize("ci", ["", "true"])
def test_an_unreachable_postgresql_skips_on_a_laptop_and_fails_in_ci(ci: str) -> None:
    result = run_pytest(
        "tests/test_app.py::test_health",
        "-k",
        "postgresql",
        CI=ci,
        FORMCASE_TEST_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/test",
    )
    if ci:
        assert result.returncode == 1, result.stdout
        assert "1 error" in result.stdout and "CI is set" in result.stdout, result.stdout
    else:
        assert result.returncode == 0, result.stdout
        assert "1 skipped" in result.stdout, result.stdout
        assert "PostgreSQL runs skipped: cannot use" in result.stdout, result.stdout


def test_a_missing_redis_fails_in_ci() -> None:
    server_url()  # the test under test needs PostgreSQL before it asks for Redis
    result = run_pytest("tests/e2e/test_rate_limit.py", CI="true", FORMCASE_TEST_REDIS_URL="")
    assert result.returncode == 1, result.stdout
    assert "Redis runs skipped: FORMCASE_TEST_REDIS_URL is not set" in result.stdout
    assert "CI is set" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
