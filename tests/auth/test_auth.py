"""Tokens, workspace access (401 / 403 / 404), and rate limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.app import create_app
from formcase.auth import service as tokens
from formcase.config import Settings
from tests.conftest import Grant, MakeTenant
from tests.helpers import Tenant, assert_error, clear_of_a_day_boundary, eventually


@pytest.mark.parametrize(
    ("authorization", "fragment"),
    [
        (None, "Missing Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearer pnbx_short", "48 hex characters"),
        ("Bearer pnbx_" + "0" * 48, "Invalid or revoked token"),
    ],
)
async def test_401_without_a_valid_token(
    client: httpx.AsyncClient, authorization: str | None, fragment: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get("/v1/forms", headers=headers)
    assert_error(response, 401, fragment)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_token_stops_working_at_once(
    app: Any,
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    assert (await client.get("/v1/workspaces", headers=tenant.headers)).status_code == 200
    async with sessionmaker() as session:
        listed = await tokens.list_tokens(session)
        token = next(t for t, slugs in listed if slugs == [tenant.slug])
        assert token.last_used_at is not None  # the request above marked it used
        assert token.hint == tenant.token[:9]
        await tokens.revoke_token(session, token.id)
    # On PostgreSQL the server process hears of it by NOTIFY, as it would from `formcase
    # token revoke` in another process: milliseconds later, not before the next statement.
    if cache := app.state.token_cache:
        await eventually(lambda: tokens.hash_token(tenant.token) not in cache.entries)
    assert_error(await client.get("/v1/workspaces", headers=tenant.headers), 401, "revoked")


async def test_tokens_are_stored_only_as_hashes(
    tenant: Tenant, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        stored = [t.token_hash for t, _ in await tokens.list_tokens(session)]
    assert tenant.token not in stored
    assert tokens.hash_token(tenant.token) in stored


async def test_another_workspaces_form_is_403_and_a_missing_one_404(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    owner, stranger = await make_tenant(), await make_tenant()
    form = (
        await client.post(
            "/v1/forms", json={"flow": {"slug": "contact-details"}}, headers=owner.headers
        )
    ).json()
    assert_error(
        await client.get(f"/v1/forms/{form['id']}", headers=stranger.headers), 403, "does not grant"
    )
    patched = await client.patch(
        f"/v1/forms/{form['id']}", json={"archived": True}, headers=stranger.headers
    )
    assert_error(patched, 403)
    still = (await client.get(f"/v1/forms/{form['id']}", headers=owner.headers)).json()
    assert still["archived"] is False
    assert_error(await client.get(f"/v1/forms/{uuid.uuid4()}", headers=stranger.headers), 404)
    named = await client.post(
        "/v1/forms",
        json={"flow": {"slug": "contact-details"}, "company": {"slug": owner.slug}},
        headers=stranger.headers,
    )
    assert_error(named, 403, owner.slug)


async def test_workspaces_and_companies(
    client: httpx.AsyncClient, make_tenant: MakeTenant, grant: Grant
) -> None:
    first, second, _other = await make_tenant(), await make_tenant(), await make_tenant()
    headers = await grant(first.slug, second.slug)
    listed = (await client.get("/v1/workspaces?sort=created_at", headers=headers)).json()
    assert listed["meta"] == {
        "total_count": 2,
        "total_pages": 1,
        "page_size": 10,
        "current_page": 1,
    }
    assert [w["slug"] for w in listed["data"]] == [first.slug, second.slug]
    assert set(listed["data"][0]) == {"id", "created_at", "slug", "name"}
    companies = (await client.get("/v1/companies", headers=headers)).json()
    assert [c["slug"] for c in companies] == [first.slug, second.slug]
    paged = (
        await client.get("/v1/workspaces?page[size]=1&sort=-created_at", headers=headers)
    ).json()
    assert [w["slug"] for w in paged["data"]] == [second.slug]


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with small budgets: 3 requests a day per token, 5 a day per client (day
    windows: a test never runs across one's edge, which would refill the budget)."""
    clear_of_a_day_boundary()
    app = create_app(
        settings.model_copy(update={"rate_limit_token": "3/day", "rate_limit_client": "5/day"})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(f"10.0.0.{id(app) % 250}", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
            yield c


async def test_rate_limit_per_token(limited: httpx.AsyncClient, make_tenant: MakeTenant) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    seen = []
    for _ in range(3):
        response = await limited.get("/v1/forms", headers=tenant.headers)
        assert response.status_code == 200
        seen.append(int(response.headers["x-ratelimit-remaining"]))
        assert response.headers["x-ratelimit-limit"] == "3"
        assert int(response.headers["x-ratelimit-reset"]) > 1_700_000_000
    assert seen == [2, 1, 0]
    refused = await limited.get("/v1/forms", headers=tenant.headers)
    assert_error(refused, 429, "3 requests per day")
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert refused.headers["x-ratelimit-remaining"] == "0"
    # Another token has its own budget; errors carry the headers too.
    missing = await limited.get(f"/v1/forms/{uuid.uuid4()}", headers=other.headers)
    assert missing.status_code == 404 and missing.headers["x-ratelimit-remaining"] == "2"


async def test_rate_limit_per_client_without_token(limited: httpx.AsyncClient) -> None:
    statuses = [(await limited.get("/v1/forms")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_postgresql_caches_tokens_and_revocation_empties_every_cache(
    app: Any,
    client: httpx.AsyncClient,
    tenant: Tenant,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    cache = app.state.token_cache
    if cache is None:
        pytest.skip("the token cache is used on PostgreSQL only")
    # The LISTEN connection comes up in the background at start-up.
    assert await eventually(lambda: cache.listening)
    assert (await client.get("/v1/workspaces", headers=tenant.headers)).status_code == 200
    assert tokens.hash_token(tenant.token) in cache.entries
    async with sessionmaker() as session:
        token = next(t for t, slugs in await tokens.list_tokens(session) if slugs == [tenant.slug])
        await tokens.revoke_token(session, token.id)
    assert await eventually(lambda: not cache.entries)  # by NOTIFY on that connection
    assert_error(await client.get("/v1/workspaces", headers=tenant.headers), 401, "revoked")


async def test_an_unreachable_redis_lets_requests_through_and_says_so(
    settings: Settings, tenant: Tenant
) -> None:
    """Rate limits fail open (availability first); /readyz reports the store down."""
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://formcase.test") as c:
            answered = await c.get("/v1/workspaces", headers=tenant.headers)
            assert answered.status_code == 200
            assert "x-ratelimit-remaining" not in answered.headers
            ready = await c.get("/readyz")
            assert_error(ready, 503, "rate_limit_store unreachable")
