"""The /v1 gate: 401 before anything else about a request is looked at, every such request
counted against the caller's IP budget, and the rate-limit headers on every /v1 answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from formcase.app import create_app
from formcase.config import Settings
from tests.conftest import MakeTenant
from tests.helpers import Tenant, assert_error, clear_of_a_day_boundary

# What a stranger may send wrong besides the token: each would be 400, 404 or 405 with one.
WRONG_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/forms?bogus=1", {}),
    ("GET", "/v1/forms?page[size]=nope", {}),
    ("GET", "/v1/no-such-thing", {}),
    ("GET", "/v1", {}),
    ("PUT", "/v1/forms", {}),
    ("DELETE", "/v1/workspaces", {}),
    (
        "POST",
        "/v1/forms",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ),
    ("POST", "/v1/forms", {"json": {"flow": {}}}),
    ("GET", "/v1/forms/not-a-uuid", {}),
    ("GET", "/v1/forms/", {}),
]
BAD_TOKENS = [None, "Bearer pnbx_" + "0" * 48, "Bearer nonsense", "Basic dXNlcjpwYXNz"]
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def _send(
    client: httpx.AsyncClient, method: str, url: str, options: dict[str, Any], auth: str | None
) -> Any:
    headers = dict(options.get("headers", {}))
    if auth is not None:
        headers["Authorization"] = auth
    return client.request(method, url, **{**options, "headers": headers})


@pytest.mark.parametrize("auth", BAD_TOKENS)
@pytest.mark.parametrize(("method", "url", "options"), WRONG_REQUESTS)
async def test_without_a_valid_token_every_v1_request_is_401_first(
    client: httpx.AsyncClient, method: str, url: str, options: dict[str, Any], auth: str | None
) -> None:
    response = await _send(client, method, url, options, auth)
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    for name in RATE_HEADERS:
        assert name in response.headers


async def test_the_openapi_description_needs_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/openapi.json")).status_code == 200


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a budget of 4 requests a day per client (day windows: a test never runs
    across one's edge)."""
    clear_of_a_day_boundary()
    app = create_app(settings.model_copy(update={"rate_limit_client": "4/day"}))
    async with app.router.lifespan_context(app):
        address = f"10.1.{id(app) % 250}.{uuid.uuid4().int % 250}"
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
            yield c


async def test_refused_requests_spend_the_ip_budget_whatever_they_ask(
    limited: httpx.AsyncClient,
) -> None:
    statuses = []
    remaining = []
    for method, url, options in [*WRONG_REQUESTS[:4], WRONG_REQUESTS[4]]:
        response = await _send(limited, method, url, options, None)
        statuses.append(response.status_code)
        remaining.append(response.headers.get("x-ratelimit-remaining"))
    assert statuses == [401, 401, 401, 401, 429]
    assert remaining == ["3", "2", "1", "0", "0"]
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    ("method", "url", "options", "status"),
    [
        ("GET", "/v1/forms?bogus=1", {}, 400),
        ("GET", "/v1/no-such-thing", {}, 404),
        ("GET", f"/v1/forms/{uuid.uuid4()}", {}, 404),
        ("PUT", "/v1/forms", {}, 405),
        (
            "POST",
            "/v1/forms",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
        ),
        ("POST", "/v1/forms", {"json": {"flow": {}}}, 400),
    ],
)
async def test_every_v1_answer_carries_the_rate_limit_headers(
    client: httpx.AsyncClient,
    tenant: Tenant,
    method: str,
    url: str,
    options: dict[str, Any],
    status: int,
) -> None:
    response = await _send(client, method, url, options, tenant.headers["Authorization"])
    assert_error(response, status)
    assert response.headers["x-ratelimit-limit"] == "100"
    assert 0 <= int(response.headers["x-ratelimit-remaining"]) < 100
    assert int(response.headers["x-ratelimit-reset"]) > 1_700_000_000


async def test_a_lifecycle_refusal_carries_them_too(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant()
    form = (
        await client.post(
            "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=tenant.headers
        )
    ).json()
    processed = await client.patch(
        f"/v1/forms/{form['id']}", json={"processed": True}, headers=tenant.headers
    )
    assert_error(processed, 422, "only a completed form can be processed")
    assert "x-ratelimit-remaining" in processed.headers
