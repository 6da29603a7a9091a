"""Two server processes sharing Redis share one budget: the 101st request in a day is 429."""

from __future__ import annotations

import os

import httpx
import pytest
import redis

from tests.conftest import unavailable
from tests.e2e.conftest import Formcase
from tests.e2e.test_server import set_up
from tests.helpers import clear_of_a_day_boundary

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("FORMCASE_TEST_REDIS_URL")


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        unavailable("Redis runs skipped: FORMCASE_TEST_REDIS_URL is not set")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable(f"Redis runs skipped: cannot reach {REDIS_URL} ({exc!r})")
    return REDIS_URL


def test_two_processes_share_the_per_token_budget(formcase_pg: Formcase, redis_url: str) -> None:
    token = set_up(formcase_pg)
    formcase_pg.env["FORMCASE_REDIS_URL"] = redis_url
    # A day's budget, not the default minute's: the windows are aligned to the clock, and a
    # test running across a window's edge would see its budget refilled.
    formcase_pg.env["FORMCASE_RATE_LIMIT_TOKEN"] = "100/day"
    clear_of_a_day_boundary()
    first, second = formcase_pg.serve(), formcase_pg.serve()
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    remaining = []
    with httpx.Client(headers=headers, timeout=10) as client:
        for number in range(101):
            response = client.get(f"{(first, second)[number % 2]}/v1/workspaces")
            statuses.append(response.status_code)
            remaining.append(response.headers.get("x-ratelimit-remaining"))
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429
    # Each process saw the other's requests: the count went down by one on every request.
    assert remaining[:3] == ["99", "98", "97"] and remaining[99] == "0"
    assert int(response.headers["retry-after"]) >= 1
    # A request to either process is refused now; the other token-less budget is untouched.
    assert httpx.get(f"{first}/v1/workspaces", headers=headers).status_code == 429
    assert httpx.get(f"{second}/readyz").json()["checks"]["rate_limit_store"] == "ok"
